"""Trainers' bundle choice: eq. (3) per generation with perceived inputs and entropy smoothing (docs/model.md §4).

Trainer j chooses b_j in [0, h̄]^N to maximise the strictly concave

    J_j(b) = G_j x̂_H^gamma x̂_S^delta - Σ_i p_i b_ij + s Ĥ_j + T Σ_i b_ij (1 - log(b_ij / h̄_i)),

with x̂_H = Σ_i b_ij phĩ_i / V, x̂_S = Σ_i b_ij (1 - phĩ_i) / V and G_j = P_Q kappa_j (V/M) Z_j exp(-kappa_Q D_j).
The first-order condition gives the logit demand b_ij = h̄_i min(1, exp((m_ij + s phĩ_i - p_i)/T)) with marginal
value m_ij = a_j phĩ_i + c_j (1 - phĩ_i), a_j = gamma Y_j / x̂_H, c_j = delta Y_j / x̂_S,
Y_j = G_j x̂_H^gamma x̂_S^delta / V.
The fixed point in (log x̂_H, log x̂_S) is unique (strict concavity) and is found by Newton's method per trainer.
The Newton step is written once for NumPy and JAX; `bundle_demand` drives it in NumPy, the mean-field solver in
`jax.lax.while_loop`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sdce.economics.technology import quality
from sdce.errors import DemandNotConverged
from sdce.xp import array_namespace, log_ndtr

NEWTON_STEP_CAP = 0.5  # largest change of log x̂_H, log x̂_S in one Newton step
NOISE_RANGE = 40.0  # standard deviations of signal noise treated as the whole real line


class Demand(NamedTuple):
    bundles: np.ndarray  # (N, M)
    value_h: np.ndarray  # a_j, marginal value of a unit of perceived human content (M,)
    value_s: np.ndarray  # c_j, marginal value of a unit of perceived synthetic content (M,)
    interior: np.ndarray  # (N, M) True where b_ij < h̄_i (the demand responds to prices and signals)



def logit_demand(phi_tilde, value_h, value_s, prices, capacity, temp: float, subsidy=0.0):
    """b = h̄ min(1, exp((a phĩ + c (1 - phĩ) + s phĩ - p)/T)) and the mask of the interior (b < h̄).

    Arguments broadcast against each other (e.g. phĩ (N, M), a and c (M,), prices and capacity (N, 1)).
    """
    xp = array_namespace(phi_tilde, value_h)
    z = (value_h * phi_tilde + value_s * (1 - phi_tilde) + subsidy * phi_tilde - prices) / temp
    return capacity * xp.exp(xp.minimum(z, 0.0)), z < 0


def marginal_values(scale, x_h, x_s, gamma, delta, volume: float):
    """a_j = gamma Y_j / x̂_H and c_j = delta Y_j / x̂_S with Y_j = G_j x̂_H^gamma x̂_S^delta / V."""
    level = quality(scale, x_h, x_s, gamma, delta) / volume
    return gamma * level / x_h, delta * level / x_s


def initial_aggregates(phi_tilde, capacity, volume: float):
    """Newton's starting point: log x̂_H, log x̂_S when every trainer buys everything (2, M)."""
    xp = array_namespace(phi_tilde, capacity)
    cap = capacity[:, None]
    return xp.log(xp.stack([(phi_tilde * cap).sum(0), ((1 - phi_tilde) * cap).sum(0)]) / volume)


def demand_at(y, phi_tilde, prices, capacity, scale, gamma, delta, temp, subsidy, volume) -> Demand:
    """The logit demand at aggregates exp(y) (y = log x̂_H, log x̂_S per trainer, shape (2, M))."""
    xp = array_namespace(y, phi_tilde)
    a, c = marginal_values(scale, xp.exp(y[0]), xp.exp(y[1]), gamma, delta, volume)
    bundles, interior = logit_demand(phi_tilde, a, c, prices[:, None], capacity[:, None], temp, subsidy)
    return Demand(bundles, a, c, interior)


def demand_newton_step(y, phi_tilde, prices, capacity, scale, gamma, delta, temp, subsidy, volume):
    """One Newton step on log(aggregates of the demand at exp(y)) = y; returns the next y and max |residual|."""
    xp = array_namespace(y, phi_tilde)
    demand = demand_at(y, phi_tilde, prices, capacity, scale, gamma, delta, temp, subsidy, volume)
    bundles, a, c = demand.bundles, demand.value_h, demand.value_s
    agg_h, agg_s = (phi_tilde * bundles).sum(0) / volume, ((1 - phi_tilde) * bundles).sum(0) / volume
    residual = xp.log(xp.stack([agg_h, agg_s])) - y
    slope = xp.where(demand.interior, bundles / temp, 0.0)
    dz_h = a * (gamma - 1) * phi_tilde + c * gamma * (1 - phi_tilde)
    dz_s = a * delta * phi_tilde + c * (delta - 1) * (1 - phi_tilde)
    j00 = (phi_tilde * slope * dz_h).sum(0) / volume / agg_h - 1
    j01 = (phi_tilde * slope * dz_s).sum(0) / volume / agg_h
    j10 = ((1 - phi_tilde) * slope * dz_h).sum(0) / volume / agg_s
    j11 = ((1 - phi_tilde) * slope * dz_s).sum(0) / volume / agg_s - 1
    det = j00 * j11 - j01 * j10
    step_h = -(j11 * residual[0] - j01 * residual[1]) / det
    step_s = -(-j10 * residual[0] + j00 * residual[1]) / det
    step = xp.clip(xp.stack([step_h, step_s]), -NEWTON_STEP_CAP, NEWTON_STEP_CAP)
    return y + step, xp.max(xp.abs(residual))


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
    volume = float(capacity.sum()) if volume is None else volume
    args = (phi_tilde, prices, capacity, scale, gamma, delta, temp, subsidy, volume)
    y = initial_aggregates(phi_tilde, capacity, volume)
    for _ in range(max_iterations):
        y_next, residual = demand_newton_step(y, *args)
        if residual < tol:
            return demand_at(y, *args)
        y = y_next
    raise DemandNotConverged(f"bundle demand did not converge in {max_iterations} Newton steps "
                             f"(max residual {residual:.2e}); try a larger bundle_temp")


def _normal_pdf(xp, x):
    return xp.exp(-0.5 * x**2) / (2 * xp.pi) ** 0.5


def truncated_exp_mass(xp, z0, k, lo, hi):
    """E[e^(z0 + k e) 1{lo < e < hi}] for e ~ N(0, 1) and finite bounds: e^(z0 + k²/2) [Φ(hi - k) - Φ(lo - k)],
    in log space; 0 where hi <= lo (with finite gradients there)."""
    upper, lower = log_ndtr(xp, hi - k), log_ndtr(xp, lo - k)
    gap = xp.minimum(lower - upper, -1e-30)
    return xp.where(hi > lo, xp.exp(z0 + 0.5 * k**2 + upper + xp.log(-xp.expm1(gap))), 0.0)


def _exp_moments(xp, z0, k, lo, hi):
    """E[e^(z0 + k e) 1{lo < e < hi}] and E[e e^(z0 + k e) 1{lo < e < hi}] for e ~ N(0, 1), lo <= hi finite:
    `truncated_exp_mass`, and k times it plus e^z(lo) φ(lo) - e^z(hi) φ(hi)."""
    mass = truncated_exp_mass(xp, z0, k, lo, hi)

    def edge(x):
        return xp.exp(xp.minimum(z0 + k * x, 0.0)) * _normal_pdf(xp, x)

    return mass, k * mass + xp.where(hi > lo, edge(lo) - edge(hi), 0.0)


def _flat_moments(xp, lo, hi):
    """P(lo < e < hi) and E[e 1{lo < e < hi}]."""
    mass = xp.where(hi > lo, xp.exp(log_ndtr(xp, hi)) - xp.exp(log_ndtr(xp, lo)), 0.0)
    return mass, xp.where(hi > lo, _normal_pdf(xp, lo) - _normal_pdf(xp, hi), 0.0)


def expected_logit_demand(centre, spread, value_h, value_s, prices, capacity, temp: float, subsidy=0.0):
    """E[b] and E[phĩ b] of the logit demand over Gaussian signal noise, in closed form (the continuum's demand).

    phĩ = clip(A + B e, 0, 1) with e ~ N(0, 1), A = `centre`, B = `spread` >= 0 (for empirical-Bayes signals
    A = mu + w (phi - mu), B = w sigma); b = h̄ min(1, e^z), z = (g phĩ + c - p)/T, g = a - c + s. On the noise
    line, phĩ is 0, linear or 1 and b is e^z or h̄, so both moments are sums of truncated-Gaussian integrals.
    Arguments broadcast as in `logit_demand`.
    """
    xp = array_namespace(centre, value_h)
    inf = NOISE_RANGE
    gain = value_h - value_s + subsidy
    base = (value_s - prices) / temp
    z_lo, z_hi = base, base + gain / temp  # z where phĩ = 0 and phĩ = 1
    positive = spread > 0
    safe_b = xp.where(positive, spread, 1.0)
    e0 = xp.where(positive, -centre / safe_b, xp.where(centre > 0, -inf, inf))  # phĩ > 0 above e0
    e1 = xp.where(positive, (1 - centre) / safe_b, xp.where(centre < 1, inf, -inf))  # phĩ < 1 below e1
    e0, e1 = xp.clip(e0, -inf, inf), xp.clip(e1, -inf, inf)
    e1 = xp.maximum(e0, e1)
    z0 = base + gain * centre / temp
    k = gain * spread / temp
    safe_k = xp.where(k != 0, k, 1.0)
    # z < 0 below the cut when k > 0
    cut = xp.clip(xp.where(k != 0, -z0 / safe_k, xp.where(z0 < 0, inf, -inf)), -inf, inf)
    # the linear part (e0, e1) splits at the cut into an exponential and a saturated piece
    exp_lo = xp.where(k < 0, xp.maximum(e0, cut), e0)
    exp_hi = xp.where(k < 0, e1, xp.where(k > 0, xp.minimum(e1, cut), xp.where(z0 < 0, e1, e0)))
    exp_hi = xp.maximum(exp_lo, exp_hi)
    sat_lo = xp.where(k < 0, e0, xp.where(k > 0, xp.maximum(e0, cut), xp.where(z0 < 0, e1, e0)))
    sat_hi = xp.where(k < 0, xp.minimum(e1, cut), e1)
    sat_hi = xp.maximum(sat_lo, sat_hi)
    m_exp, f_exp = _exp_moments(xp, z0, k, exp_lo, exp_hi)
    m_sat, f_sat = _flat_moments(xp, sat_lo, sat_hi)
    p_zero, _ = _flat_moments(xp, -inf * xp.ones_like(e0), e0)
    p_one, _ = _flat_moments(xp, e1, inf * xp.ones_like(e1))
    b_zero = xp.exp(xp.minimum(z_lo, 0.0))
    b_one = xp.exp(xp.minimum(z_hi, 0.0))
    mean_b = p_zero * b_zero + m_exp + m_sat + p_one * b_one
    mean_phi_b = centre * (m_exp + m_sat) + spread * (f_exp + f_sat) + p_one * b_one
    return capacity * mean_b, capacity * mean_phi_b
