"""Open scraping (docs/model.md §6): all content is taken, nobody is paid, provenance earns nothing."""

from __future__ import annotations

from sdce.regimes.base import Market, Offer, Settlement, all_offered
from sdce.xp import array_namespace

# the policies that change an outcome here: trainers take all content, so only the transfer's payments change
ACTING_POLICIES = frozenset({"none", "transfer"})


def settle(market: Market) -> Settlement:
    xp = array_namespace(market.bundles)
    return Settlement(xp.zeros_like(market.bundles), xp.zeros(market.bundles.shape[1]), xp.zeros_like(market.phi))


def sampled_bundles(offer: Offer, rng) -> tuple:
    return all_offered(offer), None


def expected_bundles(offer: Offer) -> tuple:
    return all_offered(offer), None, 0.0
