"""Who is paid, and how (MODEL.md §6): the payment matrix pi_ij (trainer j to producer i) per regime, and the
marginal revenue per unit of human share that producers respond to (MODEL.md §3)."""

from __future__ import annotations

import numpy as np

from sdce.economics.demand import Demand
from sdce.economics.technology import quality


def statutory_payments(bundles, royalty: float):
    """B2: a flat royalty r per unit used, whatever its provenance."""
    return royalty * bundles


def shapley_payments(bundles, phi, volume: float, z, gamma, delta, collapse, money_per_quality):
    """Eq. (4), exact and vectorised: pi_ij = P_Q kappa_j (V/M) [Q_j(b_j) - Q_j(b_j without i)].

    Leave-one-out with the closed-form technology (2): removing producer i takes b_ij phi_i from H_j and
    b_ij (1 - phi_i) from S_j; rho_t and the trainer's fidelity D_j are held at their realised values.
    `money_per_quality` is P_Q kappa_j V / M, shape (M,).
    """
    h = (bundles * phi[:, None]).sum(0)
    s = (bundles * (1 - phi)[:, None]).sum(0)
    q_full = quality(z, h / volume, s / volume, gamma, delta, collapse)
    h_loo = np.clip(h - bundles * phi[:, None], 0.0, None)
    s_loo = np.clip(s - bundles * (1 - phi)[:, None], 0.0, None)
    q_loo = quality(z, h_loo / volume, s_loo / volume, gamma, delta, collapse)
    return money_per_quality * (q_full - q_loo)


def shapley_marginal_revenue(bundles, phi, volume: float, quality, gamma, delta, money_per_quality, capacity):
    """d pi_i / d phi_i per unit of capacity: Σ_j P_Q kappa_j (V/M) dQ_j/dphi_i = Σ_j money_j Q_j b_ij
    (gamma/H_j - delta/S_j) / h̄_i (the leave-one-out term does not depend on phi_i)."""
    h = (bundles * phi[:, None]).sum(0)
    s = (bundles * (1 - phi)[:, None]).sum(0)
    return (bundles * (money_per_quality * quality * (gamma / h - delta / s))).sum(1) / capacity


def statutory_marginal_revenue(demand: Demand, royalty: float, phi_tilde, reliability, temp: float, capacity):
    """r Σ_j db_ij/dphi_i per unit of capacity: demand responds (where interior) to the perceived provenance,
    which moves with the true one by the signal reliability w_j (not at all where the estimate sits on 0 or 1)."""
    responsive = demand.interior & (phi_tilde > 0) & (phi_tilde < 1)
    slope = np.where(responsive, demand.bundles / temp, 0.0)
    return royalty * (slope * (demand.value_h - demand.value_s) * reliability).sum(1) / capacity
