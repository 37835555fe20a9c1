"""Statutory licensing (docs/model.md §6): a royalty r per unit used, paid to its producer; trainers choose their
bundles at the royalty on noisy provenance signals, so producers' marginal revenue runs through demand."""

from __future__ import annotations

import numpy as np

from sdce.economics.ledger import royalty_outlays
from sdce.economics.payments import statutory_marginal_revenue, statutory_payments
from sdce.regimes.base import Market, Settlement
from sdce.xp import array_namespace


def settle(market: Market) -> Settlement:
    """Royalty payments (B2), r Σ_i b_ij charged, and the expected marginal revenue at the trainers' `Perception`."""
    levers, seen = market.levers, market.demand
    xp = array_namespace(market.phi)
    prices = xp.full(market.phi.shape, levers.royalty)
    with np.errstate(divide="ignore"):  # log of an empty noise interval's mass; masked to 0 inside
        revenue = statutory_marginal_revenue(market.phi, seen.prior_mean, seen.reliability, seen.noise_sd,
                                             seen.value_h, seen.value_s, prices, market.cfg.bundle_temp,
                                             levers.royalty, levers.subsidy)
    return Settlement(statutory_payments(market.bundles, levers.royalty),
                      royalty_outlays(market.bundles, levers.royalty), revenue)
