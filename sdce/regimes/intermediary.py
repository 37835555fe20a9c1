"""The data intermediary (docs/model.md §6): all content licensed under a two-part tariff, settled on audited
provenance (`sdce.economics.intermediary`)."""

from __future__ import annotations

from sdce.economics.intermediary import intermediary_settlement
from sdce.regimes.base import Market, Offer, Settlement, all_offered

# the policies that change an outcome here: the tariff prices the delivered provenance itself, so only the transfer's
# payments change
ACTING_POLICIES = frozenset({"none", "transfer"})


def settle(market: Market) -> Settlement:
    m, cfg = market, market.cfg
    deal = intermediary_settlement(m.phi, m.capacity, m.nu, m.phi_bar, m.productivity, m.collapse, m.gamma, m.delta,
                                   m.money_per_quality, cost_synthetic=cfg.cost_synthetic, cost_human=cfg.cost_human,
                                   cost_quadratic=cfg.cost_quadratic, bargaining_power=cfg.bargaining_power,
                                   fee_per_volume=cfg.intermediary_cost)
    return Settlement(deal.payments, deal.paid, deal.marginal_revenue, deal.fee, deal)


def sampled_bundles(offer: Offer, rng) -> tuple:
    return all_offered(offer), None


def expected_bundles(offer: Offer) -> tuple:
    return all_offered(offer), None, 0.0
