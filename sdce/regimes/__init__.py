"""The regimes (docs/model.md §6): who is paid, and how. One module each, implementing `sampled_bundles`,
`expected_bundles` and `settle` (`sdce.regimes.base`); both engines call the module of their configuration's regime
through `regime_module`."""

from __future__ import annotations

from types import ModuleType

from sdce.regimes import intermediary, pmir, shapley, statutory, unregulated
from sdce.regimes.base import Market, Offer, Perception, Settlement

REGISTRY: dict[str, ModuleType] = {"unregulated": unregulated, "statutory": statutory, "shapley": shapley,
                                   "pmir": pmir, "intermediary": intermediary}


def regime_module(name: str) -> ModuleType:
    """The module of regime `name` (a key of `REGISTRY`, which `sdce.config.REGIMES` lists)."""
    return REGISTRY[name]


def policy_acts(regime: str, policy: str) -> bool:
    """Whether `policy` changes any outcome under `regime` beyond its resource cost (docs/model.md §7): a subsidy, a
    cap, disclosure or a watermark acts only where trainers choose bundles on perceived provenance."""
    return policy in regime_module(regime).ACTING_POLICIES


__all__ = ["Market", "Offer", "Perception", "Settlement", "REGISTRY", "policy_acts", "regime_module"]
