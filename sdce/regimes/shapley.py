"""Shapley royalties (docs/model.md §6, eq. 4): each unit is paid its leave-one-out contribution to its trainer's
revenue; with N producers exactly (the ABM), and in the N -> infinity limit its marginal product (the continuum)."""

from __future__ import annotations

from sdce.economics.ledger import leave_one_out_outlays, marginal_product_outlays
from sdce.economics.payments import shapley_marginal_payments, shapley_marginal_revenue, shapley_payments
from sdce.regimes.base import Market, Offer, Settlement, all_offered

# the policies that change an outcome here: trainers use all content offered, so only the transfer's payments change
ACTING_POLICIES = frozenset({"none", "transfer"})


def settle(market: Market) -> Settlement:
    m = market
    revenue = shapley_marginal_revenue(m.bundles, m.phi, m.volume, m.quality, m.gamma, m.delta, m.money_per_quality,
                                       m.capacity)
    if m.finite:
        payments = shapley_payments(m.bundles, m.phi, m.volume, m.productivity, m.gamma, m.delta, m.collapse,
                                    m.money_per_quality)
        outlays = leave_one_out_outlays(m.bundles, m.phi, m.volume, m.productivity, m.gamma, m.delta, m.collapse,
                                        m.money_per_quality)
    else:
        payments = shapley_marginal_payments(m.bundles, m.phi, m.quality, m.gamma, m.delta, m.money_per_quality)
        outlays = marginal_product_outlays(m.money_per_quality * m.quality, m.gamma, m.delta)
    return Settlement(payments, outlays, revenue)


def sampled_bundles(offer: Offer, rng) -> tuple:
    return all_offered(offer), None


def expected_bundles(offer: Offer) -> tuple:
    return all_offered(offer), None, 0.0
