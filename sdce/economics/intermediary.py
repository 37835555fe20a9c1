"""The data intermediary with a two-part tariff (market-design-model.md §3; docs/model.md §6).

(a) The static mechanism on the Gaussian precision model (market-design-model.md §1–§3): creators i with loadings
a_i ≥ 0 choose efforts e_i at cost κe²/2; the buyer values the effective precision τ(e) (Eq. 28). The intermediary
posts the Lemma-7 unit prices p_i = ∂τ/∂e_i(e^opt), splits the net surplus S (Eq. 19) by Nash bargaining (share η
to the creators, weighted by Aumann–Shapley weights w_i) and charges the buyer the licence fee T_0 (Eq. 18).

(b) The same mechanism on the SDCE market (our reconstruction; docs/model.md §6). The intermediary licenses every
producer's whole capacity to every trainer (bundles as under `shapley`) and audits provenance, so the human share
φ_i is contractible and the true φ is used. The mapping:
- effort e_i ↔ human share φ_i ∈ [0, φ̄_i];
- the buyer's value τ(e) ↔ the trainers' revenue R(φ) = Σ_j P_Q κ_j (V/M) Q_j, with x_H = Σ_i h̄_i φ_i / V,
  x_S = 1 − x_H, and γ(ρ), δ(ρ) and exp(−κ_Q D_j) held at this generation's realised values (as Shapley
  leave-one-out holds them);
- the cost c(e_i) ↔ the net cost h̄_i (c(φ_i) − ν_i φ_i) (cost minus intrinsic value);
- outside options: u_i⁰ = −h̄_i (c(φ_i⁰) − ν_i φ_i⁰) at the intrinsic-only share φ_i⁰ = clip((ν_i − c_H)/c_2, 0, φ̄_i),
  and Π_0 = R(φ⁰), open scraping with nobody paid.
The unit price is p_i = ∂R/∂φ_i(φ^opt) = h̄_i R'(H^opt) (Lemma 7), so producers, who respond next generation to the
marginal revenue p_i / h̄_i (adaptive expectations), target φ^opt = argmax W(φ) = R(φ) − Σ net cost (IC). The
generation is settled on the delivered φ: S = R − Σ net cost − F V − Π_0 − Σ u⁰ (Eq. 19); producer i receives
t_i = u_i⁰ + η w_i S + net cost_i (= b_i + p_i φ_i); the trainers pay T = R − Π_0 − (1 − η) S (Eq. 18's fee plus
unit payments), split in proportion to R_j; F V pays the intermediary's operating cost. If S < 0, participation
fails: the intermediary does not form that generation, nobody pays, no fee is incurred, and the market is open
scraping (producers see zero marginal revenue next generation).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import brentq

from sdce.economics.producers import provenance_best_response, unit_cost
from sdce.economics.technology import quality
from sdce.errors import ConfigError
from sdce.xp import array_namespace

BISECTION_STEPS = 64  # halvings of x_H ∈ (0, 1): below float64 resolution


# -- (a) the static mechanism ---------------------------------------------------------------------------------------
def debiasing_coefficient(e, a, s: float):
    """m(e) = Σ a_i e_i / (s + Σ a_i² e_i), Eq. (23), with s = 1/σ_z²."""
    xp = array_namespace(e, a)
    return xp.sum(a * e, axis=-1) / (s + xp.sum(a**2 * e, axis=-1))


def effective_precision(e, a, s: float):
    """τ(e) = Σ e_i − (Σ a_i e_i)² / (s + Σ a_i² e_i), Eq. (28) (Sherman–Morrison on 1ᵀΣ⁻¹1)."""
    xp = array_namespace(e, a)
    return xp.sum(e, axis=-1) - xp.sum(a * e, axis=-1) ** 2 / (s + xp.sum(a**2 * e, axis=-1))


def marginal_precision(e, a, s: float):
    """∂τ/∂e_i = (1 − a_i m(e))², Eq. (25)."""
    return (1.0 - a * debiasing_coefficient(e, a, s)[..., None]) ** 2


def _static_inputs(a, s: float, kappa: float) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ConfigError(f"loadings a must be a non-empty vector of finite values >= 0 (got {a!r})")
    if not s > 0 or not np.isfinite(s):
        raise ConfigError(f"s = 1/sigma_z² must be finite and > 0 (got {s})")
    if not kappa > 0:
        raise ConfigError(f"kappa, the cost curvature, must be > 0 (got {kappa})")
    return a


def debiasing_root(a, s: float, cost_scale: float) -> float:
    """The unique root m of K s m = Σ_j a_j (1 − a_j m)³ (§1.4): K = κ gives m^opt, K = 2κ the Stackelberg m^eq.

    The left side increases and the right side decreases in m; the root lies in [0, 1/min{a_j > 0}]."""
    a = _static_inputs(a, s, cost_scale)
    if not np.any(a > 0):
        return 0.0
    return float(brentq(lambda m: cost_scale * s * m - np.sum(a * (1.0 - a * m) ** 3), 0.0, 1.0 / a[a > 0].min(),
                        xtol=1e-15, rtol=4 * np.finfo(float).eps))


def optimal_effort(a, s: float, kappa: float) -> np.ndarray:
    """e_i^opt = (1 − a_i m^opt)² / κ, Eq. (26)."""
    a = _static_inputs(a, s, kappa)
    return (1.0 - a * debiasing_root(a, s, kappa)) ** 2 / kappa


def linear_pricing_profit(a, s: float, kappa: float, fixed_cost: float) -> float:
    """Lemma 8: the buyer's profit τ(e^opt) − Σ p_i e_i^opt − F under linear pricing at the Lemma-7 prices
    p_i = ∂τ/∂e_i(e^opt); it equals s (m^opt)² − F, and −F under constant returns (Euler)."""
    e = optimal_effort(a, s, kappa)
    a = np.asarray(a, dtype=float)
    return float(effective_precision(e, a, s) - marginal_precision(e, a, s) @ e - fixed_cost)


def aumann_shapley_integrals(e, a, s: float) -> np.ndarray:
    """I_i = ∫₀¹ ∂τ/∂e_i(t e) dt in closed form (§3.3): α_i² + (2 α_i γ_i / B) ln(1 + B/s) + γ_i² / (s (s + B)),
    α_i = 1 − a_i A/B, γ_i = s a_i A/B, A = Σ a e, B = Σ a² e; I_i = 1 when B = 0. Σ_i e_i I_i = τ(e)."""
    e, a = np.asarray(e, dtype=float), np.asarray(a, dtype=float)
    big_a, big_b = a @ e, a**2 @ e
    if big_b == 0:
        return np.ones_like(a)
    alpha, gam = 1.0 - a * big_a / big_b, s * a * big_a / big_b
    return alpha**2 + 2 * alpha * gam / big_b * np.log1p(big_b / s) + gam**2 / (s * (s + big_b))


class StaticTariff(NamedTuple):
    effort: np.ndarray  # e^opt
    prices: np.ndarray  # p_i = ∂τ/∂e_i(e^opt) (Lemma 7)
    surplus: float  # S, Eq. (19)
    licence_fee: float  # T_0
    weights: np.ndarray  # Aumann–Shapley weights w_i (surplus version)
    subsidies: np.ndarray  # b_i
    payoffs: np.ndarray  # u_i = b_i + p_i e_i − c(e_i)
    buyer_profit: float  # Π = τ − T_0 − Σ p_i e_i
    budget_residual: float  # T − Σ t_i − F (BB)
    participation: bool  # S ≥ 0 (Proposition 9's condition)


def two_part_tariff(a, s: float, kappa: float, bargaining_power: float, fixed_cost: float, outside_options=None,
                    buyer_outside_option: float = 0.0) -> StaticTariff:
    """Eq. (18)–(19) and Proposition 9: t_i(e) = b_i + p_i e_i, T(e) = T_0 + Σ p_i e_i, with the Lemma-7 prices,
    S = τ(e^opt) − Σ c(e^opt) − F − Π_0 − Σ u⁰, T_0 = τ − Π_0 − (1 − η) S − Σ p e, Aumann–Shapley weights
    w_i ∝ e_i I_i − c(e_i) (surplus version; Σ = W(e^opt)) and b_i = u_i⁰ + η w_i S − (p_i e_i − c(e_i))."""
    a = _static_inputs(a, s, kappa)
    if not 0.0 <= bargaining_power <= 1.0:
        raise ConfigError(f"bargaining_power must lie in [0, 1] (got {bargaining_power})")
    if not fixed_cost >= 0:
        raise ConfigError(f"fixed_cost F must be >= 0 (got {fixed_cost})")
    u0 = np.zeros_like(a) if outside_options is None else np.asarray(outside_options, dtype=float)
    if u0.shape != a.shape:
        raise ConfigError(f"outside_options must have the shape of a {a.shape} (got {u0.shape})")
    e = optimal_effort(a, s, kappa)
    prices = marginal_precision(e, a, s)
    cost = 0.5 * kappa * e**2
    tau = float(effective_precision(e, a, s))
    surplus = tau - cost.sum() - fixed_cost - buyer_outside_option - u0.sum()
    licence_fee = tau - buyer_outside_option - (1 - bargaining_power) * surplus - prices @ e
    contribution = e * aumann_shapley_integrals(e, a, s) - cost
    weights = contribution / contribution.sum()
    subsidies = u0 + bargaining_power * weights * surplus - (prices * e - cost)
    outlay = licence_fee + prices @ e
    return StaticTariff(
        effort=e, prices=prices, surplus=float(surplus), licence_fee=float(licence_fee), weights=weights,
        subsidies=subsidies, payoffs=subsidies + prices * e - cost, buyer_profit=float(tau - outlay),
        budget_residual=float(outlay - (subsidies + prices * e).sum() - fixed_cost), participation=bool(surplus >= 0),
    )


# -- (b) the SDCE market --------------------------------------------------------------------------------------------
def licensed_revenue(x_h, z, collapse, gamma, delta, money_per_quality):
    """R_j = P_Q κ_j (V/M) Z_j x_H^γ (1 − x_H)^δ exp(−κ_Q D_j): trainer j's revenue when it licenses all content."""
    return money_per_quality * quality(z, x_h, 1.0 - x_h, gamma, delta, collapse)


def net_cost(phi, nu, capacity, cost_synthetic: float, cost_human: float, cost_quadratic: float):
    """h̄_i (c(φ_i) − ν_i φ_i): producer i's cost of provenance net of its intrinsic value (the c(e_i) of §1.3)."""
    return capacity * (unit_cost(phi, cost_synthetic, cost_human, cost_quadratic) - nu * phi)


def _bisect(fn, lo, hi, xp, steps: int = BISECTION_STEPS):
    """The root of a decreasing `fn` on (lo, hi) by `steps` halvings; under JAX a `jax.lax.fori_loop`, and the root
    is differentiated implicitly (`jax.lax.custom_root`: d root = -d fn / fn' at the root)."""

    def halve(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        up = fn(mid) > 0
        return xp.where(up, mid, lo), xp.where(up, hi, mid)

    if xp is np:
        bracket = (lo, hi)
        for k in range(steps):
            bracket = halve(k, bracket)
        return 0.5 * (bracket[0] + bracket[1])
    import jax

    def bisection(_, guess):
        lo_end, hi_end = jax.lax.fori_loop(0, steps, halve, (lo, hi))
        return 0.5 * (lo_end + hi_end)

    return jax.lax.custom_root(fn, 0.5 * (lo + hi), bisection, lambda linear, rhs: rhs / linear(xp.ones_like(rhs)))


def efficient_provenance(capacity, nu, phi_bar, z, collapse, gamma, delta, money_per_quality, cost_human: float,
                         cost_quadratic: float):
    """φ^opt = argmax over [0, φ̄] of W(φ) = R(φ) − Σ_i net cost_i(φ_i) given γ, δ and the collapse factor, and
    λ = R'(H^opt), the marginal value of human content per unit (the analogue of the m-equation, §1.4).

    R depends on φ only through x_H, so the KKT conditions give φ_i = clip((λ + ν_i − c_H)/c_2, 0, φ̄_i) with
    λ = dR/dH at x_H = Σ h̄ φ / V. R is concave (γ + δ ≤ 1), so Σ h̄ φ(λ(x))/V − x is decreasing in x and its unique
    root on (0, 1) is found by bisection. The producers' best response to the unit price λ per unit of capacity
    is φ^opt: this is Lemma 7's IC."""
    xp = array_namespace(capacity, nu, phi_bar, z, collapse, money_per_quality)
    volume = xp.sum(capacity)

    def marginal_value(x):  # dR/dH = Σ_j R_j (γ/x − δ/(1 − x)) / V; nan at x = 1 reads as "root below"
        return xp.sum(licensed_revenue(x, z, collapse, gamma, delta, money_per_quality)) * (
            gamma / x - delta / (1.0 - x)) / volume

    def excess(x):
        target = provenance_best_response(marginal_value(x), nu, phi_bar, cost_human, cost_quadratic)
        return capacity @ target / volume - x

    zero = xp.zeros((), dtype=xp.result_type(phi_bar, float))
    lam = marginal_value(_bisect(excess, zero, zero + 1.0, xp))
    return provenance_best_response(lam, nu, phi_bar, cost_human, cost_quadratic), lam


class IntermediaryOutcome(NamedTuple):
    payments: Any  # (N, M) trainer j → producer i: t_i R_j / R (rows sum to t_i, columns to T_j − F V R_j / R)
    paid: Any  # (M,) T_j = T R_j / R: what trainer j pays, its share of the fee F V included
    marginal_revenue: Any  # (N,) p_i / h̄_i, the unit price producers respond to next generation (0 if not formed)
    fee: Any  # F V, the intermediary's operating cost (0 if not formed)
    surplus: Any  # S, Eq. (19), at the delivered profile
    weights: Any  # (N,) Aumann–Shapley weights w_i
    prices: Any  # (N,) p_i = ∂R/∂φ_i(φ^opt), Lemma 7
    efficient_provenance: Any  # (N,) φ^opt
    budget_residual: Any  # T − Σ_i t_i − F V (BB; 0 if not formed)
    formed: Any  # S ≥ 0: participation holds and the intermediary operates this generation


def aumann_shapley_values(phi, capacity, nu, revenue, revenue_at_zero, cost_human: float, cost_quadratic: float):
    """φ^AS_i = φ_i ∫₀¹ ∂W/∂φ_i(tφ) dt on the diagonal path 0 → φ, exactly: ∂R/∂φ_i = h̄_i R'(H) and
    ∫₀¹ R'(tH) dt = (R(H) − R(0))/H, so φ^AS_i = h̄_i [φ_i (R(H) − R(0))/H − (c_H − ν_i) φ_i − c_2 φ_i²/2] and
    Σ_i φ^AS_i = W(φ) − W(0)."""
    xp = array_namespace(phi, capacity, nu)
    h = capacity @ phi
    average = xp.where(h > 0, (revenue - revenue_at_zero) / xp.where(h > 0, h, 1.0), 0.0)
    return capacity * (phi * average - (cost_human - nu) * phi - 0.5 * cost_quadratic * phi**2)


def intermediary_settlement(phi, capacity, nu, phi_bar, z, collapse, gamma, delta, money_per_quality, *,
                            cost_synthetic: float, cost_human: float, cost_quadratic: float,
                            bargaining_power: float, fee_per_volume: float) -> IntermediaryOutcome:
    """One generation of the intermediary on the SDCE market (module docstring, (b)), at the delivered φ.

    Shapes: phi, capacity, nu, phi_bar (N,) (type masses times h̄ in the continuum); z, collapse,
    money_per_quality (M,). F V = fee_per_volume · Σ h̄."""
    xp = array_namespace(phi, capacity, nu, phi_bar, z, collapse, money_per_quality)
    costs = (cost_synthetic, cost_human, cost_quadratic)
    volume = xp.sum(capacity)
    revenue_j = licensed_revenue(capacity @ phi / volume, z, collapse, gamma, delta, money_per_quality)
    revenue = xp.sum(revenue_j)
    cost = net_cost(phi, nu, capacity, *costs)
    phi_out = provenance_best_response(xp.zeros_like(nu), nu, phi_bar, cost_human, cost_quadratic)
    outside = -net_cost(phi_out, nu, capacity, *costs)  # u_i⁰
    revenue_out = xp.sum(licensed_revenue(capacity @ phi_out / volume, z, collapse, gamma, delta, money_per_quality))
    fee = fee_per_volume * volume
    surplus = revenue - xp.sum(cost) - fee - revenue_out - xp.sum(outside)  # Eq. (19)

    revenue_at_zero = xp.sum(licensed_revenue(0.0, z, collapse, gamma, delta, money_per_quality))
    contribution = aumann_shapley_values(phi, capacity, nu, revenue, revenue_at_zero, cost_human, cost_quadratic)
    total = xp.sum(contribution)
    weights = contribution / xp.where(total != 0, total, 1.0)

    formed = surplus >= 0
    received = outside + bargaining_power * weights * surplus + cost  # t_i = b_i + p_i φ_i
    outlay = revenue - revenue_out - (1 - bargaining_power) * surplus  # T = T_0 + Σ p_i φ_i
    share = xp.where(revenue > 0, revenue_j / xp.where(revenue > 0, revenue, 1.0), 1.0 / revenue_j.shape[0])
    phi_opt, lam = efficient_provenance(capacity, nu, phi_bar, z, collapse, gamma, delta, money_per_quality,
                                        cost_human, cost_quadratic)
    fee = xp.where(formed, fee, 0.0)
    return IntermediaryOutcome(
        payments=xp.where(formed, received[:, None] * share, 0.0),
        paid=xp.where(formed, outlay * share, 0.0),
        marginal_revenue=xp.where(formed, lam, 0.0) * xp.ones_like(phi),
        fee=fee, surplus=surplus, weights=weights, prices=capacity * lam, efficient_provenance=phi_opt,
        budget_residual=xp.where(formed, outlay - xp.sum(received) - fee, 0.0), formed=formed,
    )
