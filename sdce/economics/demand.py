"""Trainers' bundle choice: eq. (3) per generation with perceived inputs and entropy smoothing (MODEL.md §4).

Trainer j chooses b_j in [0, h̄]^N to maximise the strictly concave

    J_j(b) = G_j x̂_H^gamma x̂_S^delta - Σ_i p_i b_ij + s Ĥ_j + T Σ_i b_ij (1 - log(b_ij / h̄_i)),

with x̂_H = Σ_i b_ij phĩ_i / V, x̂_S = Σ_i b_ij (1 - phĩ_i) / V and G_j = P_Q kappa_j (V/M) Z_j exp(-kappa_Q D_j).
The first-order condition gives the logit demand b_ij = h̄_i min(1, exp((m_ij + s phĩ_i - p_i)/T)) with marginal
value m_ij = a_j phĩ_i + c_j (1 - phĩ_i), a_j = gamma Y_j / x̂_H, c_j = delta Y_j / x̂_S, Y_j = G_j x̂_H^gamma x̂_S^delta / V.
The fixed point in (log x̂_H, log x̂_S) is unique (strict concavity) and is found by Newton's method per trainer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sdce.economics.technology import quality


class Demand(NamedTuple):
    bundles: np.ndarray  # (N, M)
    value_h: np.ndarray  # a_j, marginal value of a unit of perceived human content (M,)
    value_s: np.ndarray  # c_j, marginal value of a unit of perceived synthetic content (M,)
    interior: np.ndarray  # (N, M) True where b_ij < h̄_i (the demand responds to prices and signals)


class DemandNotConverged(RuntimeError):
    """Newton's method on the bundle first-order conditions did not converge."""


def bundle_objective(bundles, phi_tilde, prices, capacity, scale, gamma, delta, temp, subsidy, volume):
    """J_j(b) for every trainer (M,), as in the module docstring."""
    x_h = (phi_tilde * bundles).sum(axis=0) / volume
    x_s = ((1 - phi_tilde) * bundles).sum(axis=0) / volume
    with np.errstate(divide="ignore"):
        entropy = np.where(bundles > 0, bundles * (1 - np.log(bundles / capacity[:, None])), 0.0).sum(axis=0)
    return quality(scale, x_h, x_s, gamma, delta) - prices @ bundles + subsidy * volume * x_h + temp * entropy


def bundle_demand(phi_tilde, prices, capacity, scale, gamma, delta, temp, subsidy=0.0, volume=None,
                  tol=1e-10, max_iterations=100) -> Demand:
    """The unique maximiser of J_j for every trainer (phi_tilde is (N, M), scale is G_j (M,))."""
    cap = capacity[:, None]
    volume = float(capacity.sum()) if volume is None else volume
    y = np.log(np.stack([(phi_tilde * cap).sum(0), ((1 - phi_tilde) * cap).sum(0)]) / volume)
    excess = prices[:, None] - subsidy * phi_tilde
    for _ in range(max_iterations):
        x_h, x_s = np.exp(y)
        level = quality(scale, x_h, x_s, gamma, delta) / volume
        a, c = gamma * level / x_h, delta * level / x_s
        z = (a * phi_tilde + c * (1 - phi_tilde) - excess) / temp
        interior = z < 0
        bundles = cap * np.exp(np.minimum(z, 0.0))
        agg_h, agg_s = (phi_tilde * bundles).sum(0) / volume, ((1 - phi_tilde) * bundles).sum(0) / volume
        residual = np.log(np.stack([agg_h, agg_s])) - y
        if np.max(np.abs(residual)) < tol:
            return Demand(bundles, a, c, interior)
        slope = np.where(interior, bundles / temp, 0.0)
        dz_h = a * (gamma - 1) * phi_tilde + c * gamma * (1 - phi_tilde)
        dz_s = a * delta * phi_tilde + c * (delta - 1) * (1 - phi_tilde)
        jac = np.empty((y.shape[1], 2, 2))
        jac[:, 0, 0] = (phi_tilde * slope * dz_h).sum(0) / volume / agg_h - 1
        jac[:, 0, 1] = (phi_tilde * slope * dz_s).sum(0) / volume / agg_h
        jac[:, 1, 0] = ((1 - phi_tilde) * slope * dz_h).sum(0) / volume / agg_s
        jac[:, 1, 1] = ((1 - phi_tilde) * slope * dz_s).sum(0) / volume / agg_s - 1
        step = -np.linalg.solve(jac, residual.T[..., None])[..., 0].T
        y = y + np.clip(step, -0.5, 0.5)
    raise DemandNotConverged(f"bundle demand did not converge in {max_iterations} Newton steps "
                             f"(max residual {np.max(np.abs(residual)):.2e}); try a larger bundle_temp")
