"""Who is paid, and how (docs/model.md §6): the payment matrix pi_ij (trainer j to producer i) per regime, and the
expected marginal revenue per unit of human share that producers respond to (docs/model.md §3)."""

from __future__ import annotations

from sdce.economics.demand import NOISE_RANGE, truncated_exp_mass
from sdce.economics.technology import provenance_value, quality
from sdce.xp import array_namespace


def statutory_payments(bundles, royalty: float):
    """B2: a flat royalty r per unit used, whatever its provenance."""
    return royalty * bundles


def shapley_payments(bundles, phi, volume: float, z, gamma, delta, collapse, money_per_quality):
    """Eq. (4), exact and vectorised: pi_ij = P_Q kappa_j (V/M) [Q_j(b_j) - Q_j(b_j without i)].

    Leave-one-out with the closed-form technology (2): removing producer i takes b_ij phi_i from H_j and
    b_ij (1 - phi_i) from S_j; rho_t and the trainer's fidelity D_j are held at their realised values.
    `money_per_quality` is P_Q kappa_j V / M, shape (M,).
    """
    xp = array_namespace(bundles, phi)
    h = (bundles * phi[:, None]).sum(0)
    s = (bundles * (1 - phi)[:, None]).sum(0)
    q_full = quality(z, h / volume, s / volume, gamma, delta, collapse)
    h_loo = xp.clip(h - bundles * phi[:, None], 0.0, None)
    s_loo = xp.clip(s - bundles * (1 - phi)[:, None], 0.0, None)
    q_loo = quality(z, h_loo / volume, s_loo / volume, gamma, delta, collapse)
    return money_per_quality * (q_full - q_loo)


def shapley_marginal_payments(bundles, phi, quality, gamma, delta, money_per_quality):
    """The N → ∞ limit of eq. (4): a producer of vanishing mass is paid its marginal product,
    pi_ij = P_Q kappa_j (V/M) Q_j b_ij (gamma phi_i / H_j + delta (1 - phi_i) / S_j) (Euler: Σ_i pi_ij =
    (gamma + delta) R_j). Used by the continuum market; `shapley_payments` tends to it as N grows."""
    h = (bundles * phi[:, None]).sum(0)
    s = (bundles * (1 - phi)[:, None]).sum(0)
    return money_per_quality * quality * bundles * (gamma * phi[:, None] / h + delta * (1 - phi)[:, None] / s)


def shapley_marginal_revenue(bundles, phi, volume: float, quality, gamma, delta, money_per_quality, capacity):
    """d pi_i / d phi_i per unit of capacity: Σ_j P_Q kappa_j (V/M) dQ_j/dphi_i = Σ_j money_j Q_j b_ij
    (gamma/H_j - delta/S_j) / h̄_i (the leave-one-out term does not depend on phi_i)."""
    h = (bundles * phi[:, None]).sum(0)
    s = (bundles * (1 - phi)[:, None]).sum(0)
    return (bundles * provenance_value(money_per_quality * quality, h, s, gamma, delta)).sum(1) / capacity


def statutory_marginal_revenue(phi, prior_mean, reliability, noise_sd, value_h, value_s, prices, temp: float,
                               royalty: float, subsidy=0.0):
    """Expected r Σ_j d b_ij / d phi_i per unit of capacity, over the producer's signal noise (docs/model.md §3).

    Trainer j perceives phĩ = clip(A + B e, 0, 1) with A = mu_j + w_j (phi_i - mu_j), B = w_j sigma, e ~ N(0, 1),
    and demands b = h̄ min(1, exp(z)) with z = z0 + k e on (0, 1), z0 = ((a_j - c_j + s) A + c_j - p_i)/T and
    k = (a_j - c_j + s) B / T. So d b / d phi_i = h̄ e^z (a_j - c_j + s) w_j / T where z < 0 and phĩ lies in (0, 1),
    else 0, and its expectation is exact: E[e^(z0 + k e); e in (L, U)] = e^(z0 + k²/2) [Φ(U - k) - Φ(L - k)],
    with (L, U) the noise interval where both hold. The trainers' aggregates (a_j, c_j, mu_j, w_j) are held fixed:
    the producer is one of many. Shapes: phi, prices (N,); prior_mean, reliability, value_h, value_s (M,).
    """
    xp = array_namespace(phi, value_h)
    gain = value_h - value_s + subsidy  # (M,)
    a_ = prior_mean + reliability * (phi[:, None] - prior_mean)  # (N, M)
    b_ = reliability * noise_sd  # (M,)
    z0 = (gain * a_ + value_s - prices[:, None]) / temp
    k = gain * b_ / temp
    big = NOISE_RANGE
    safe_b = xp.where(b_ > 0, b_, 1.0)
    inside = (a_ > 0) & (a_ < 1)
    lo = xp.where(b_ > 0, -a_ / safe_b, xp.where(inside, -big, big))  # phĩ in (0, 1)
    hi = xp.where(b_ > 0, (1 - a_) / safe_b, big)
    safe_k = xp.where(k != 0, k, 1.0)
    cut = -z0 / safe_k  # z < 0
    lo = xp.where(k < 0, xp.maximum(lo, cut), xp.where(k == 0, xp.where(z0 < 0, lo, big), lo))
    hi = xp.where(k > 0, xp.minimum(hi, cut), hi)
    expected = truncated_exp_mass(xp, z0, k, lo, hi)
    return royalty * (expected * gain * reliability / temp).sum(1)
