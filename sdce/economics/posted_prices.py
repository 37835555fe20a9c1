"""Posted prices with budget-balanced Shapley-additive settlement (PMIR, docs/model.md §6), as pure array functions.

Trainer j pays the posted prices of the units it buys, paid_j = Σ_i p_i b_ij (eq. 3). That outlay is paid out to
the producers in j's bundle in proportion to p_i times their eq. (4) contribution LOO_ij:

    pi_ij = paid_j p_i LOO_ij / Σ_k p_k LOO_kj,

so Σ_i pi_ij = paid_j (budget balance) and a producer is paid its posted price per *quality-adjusted* unit: with
LOO_ij ≈ b_ij m_ij (m_ij the marginal value of one of its units), pi_ij = p_i b_ij u_ij with settlement factor
u_ij = paid_j m_ij / Σ_k p_k b_kj m_kj, above 1 for units worth more than the bundle's price-weighted average.
Producers act on the expected receipts p_i h̄_i pi_ij(p_i, phĩ_i) u_ij under the trainers' posted logit policies.
"""

from __future__ import annotations

from sdce.economics.payments import shapley_marginal_payments, shapley_payments
from sdce.economics.technology import provenance_value
from sdce.xp import array_namespace


def marginal_unit_values(phi, bundles, quality, gamma, delta, money_per_quality, floor=1e-30):
    """m_ij = P_Q kappa_j (V/M) Q_j (gamma phi_i / H_j + delta (1 - phi_i) / S_j): d R_j / d b_ij (N, M); H_j and S_j
    are at least `floor` (the floor of the inputs in Q_j)."""
    xp = array_namespace(phi, bundles)
    h = xp.maximum(phi @ bundles, floor)
    s = xp.maximum((1 - phi) @ bundles, floor)
    return money_per_quality * quality * (gamma * phi[:, None] / h + delta * (1 - phi)[:, None] / s)


def price_weighted_payments(bundles, prices, phi, volume, z, gamma, delta, collapse, money_per_quality, quality,
                            paid, exact: bool):
    """pi_ij = paid_j p_i LOO_ij / Σ_k p_k LOO_kj; LOO is eq. (4) leave-one-out (`exact`) or its N → ∞ limit."""
    xp = array_namespace(bundles, prices)
    if exact:
        loo = shapley_payments(bundles, phi, volume, z, gamma, delta, collapse, money_per_quality)
    else:
        loo = shapley_marginal_payments(bundles, phi, quality, gamma, delta, money_per_quality)
    weights = prices[:, None] * xp.clip(loo, 0.0, None)  # LOO >= 0 under eq. (2); the clip removes float32 rounding
    total = weights.sum(0)
    return xp.where(total > 0, paid * weights / xp.where(total > 0, total, 1.0), 0.0)


def settlement_factor(prices, bundles, values, paid):
    """u_ij = paid_j m_ij / Σ_k p_k b_kj m_kj (N, M)."""
    xp = array_namespace(prices, bundles)
    denominator = (prices[:, None] * bundles * values).sum(0)
    return xp.where(denominator > 0, paid * values / xp.where(denominator > 0, denominator, 1.0), 1.0)


def price_gradient(prices, buy_prob, capacity: float, values, bundles, paid, theta_price, value_scale):
    """Algorithm 1 line 18: d/dp_i of expected receipts Σ_j p_i h̄ pi_ij u_ij of a producer of capacity h̄, with
    the trainers' logit demand response d pi_ij / d p_i = pi_ij (1 - pi_ij) theta_price_j / v_j."""
    u = settlement_factor(prices, bundles, values, paid)
    slope = buy_prob * (1 - buy_prob) * theta_price / value_scale
    return capacity * (u * (buy_prob + prices[:, None] * slope)).sum(1)


def provenance_marginal_revenue(prices, buy_prob, capacity, phi, bundles, quality, gamma, delta, money_per_quality,
                                values, paid, theta_phi, floor=1e-30):
    """d/dphi_i of expected receipts per unit of capacity (what producers best-respond to, docs/model.md §3): the
    settlement channel p_i pi_ij du_ij/dphi_i plus the demand channel p_i u_ij pi_ij (1 - pi_ij) theta_phi_j
    (the running mean phĩ_i is unbiased for phi_i). Prices, bundles and the trainers' aggregates are held fixed."""
    xp = array_namespace(prices, bundles)
    h = xp.maximum(phi @ bundles, floor)
    s = xp.maximum((1 - phi) @ bundles, floor)
    denominator = (prices[:, None] * bundles * values).sum(0)
    safe = xp.where(denominator > 0, denominator, 1.0)
    du = xp.where(denominator > 0, provenance_value(paid * money_per_quality * quality, h, s, gamma, delta) / safe, 0.0)
    u = settlement_factor(prices, bundles, values, paid)
    per_trainer = buy_prob * du + u * buy_prob * (1 - buy_prob) * theta_phi
    return prices * per_trainer.sum(1)
