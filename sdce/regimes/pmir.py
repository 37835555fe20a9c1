"""PMIR (docs/model.md §6, Algorithm 1): posted prices, learned bundle policies and the clearinghouse. The
generation's rounds (`sdce.pmir.generation_rounds`) settle as they go; their outcome is the settlement."""

from __future__ import annotations

from sdce.regimes.base import Market, Settlement

# the policies that change an outcome here: through the reward, the signals and the posted prices
ACTING_POLICIES = frozenset({"none", "subsidy", "disclosure", "royalty-cap", "transfer", "watermark"})


def settle(market: Market) -> Settlement:
    """The rounds' payments, posted-price outlays (eq. 3) and marginal revenue, carried in `market.demand`."""
    return market.demand
