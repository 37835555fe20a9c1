"""Policy instruments of docs/model.md §7 (Table V) and the closed-form optima (10), (12), as pure functions.

A policy acts on a regime through four levers, resolved once by `policy_levers` and used by the ABM and the
mean-field market alike: the subsidy s on perceived human content in trainers' objective (J + s Ĥ), the
detectability psi of the provenance signal (watermark strength w, or 1 under disclosure), the royalty actually
charged (capped at p̄), and a lump-sum transfer per producer funded by an equal lump-sum levy on trainers. The
subsidy and the transfer are transfers, not resource costs; disclosure and watermarking cost real resources
(`policy_cost`).
"""

from __future__ import annotations

from typing import NamedTuple

from sdce.economics.signals import detectability

POLICIES: tuple[str, ...] = ("none", "subsidy", "disclosure", "royalty-cap", "transfer", "watermark")
LEVEL_FIELDS: dict[str, str] = {"subsidy": "subsidy", "watermark": "watermark", "royalty-cap": "royalty_cap",
                                "transfer": "transfer"}  # the config field holding each policy's level


class PolicyLevers(NamedTuple):
    subsidy: float  # s, per unit of perceived human content, paid to trainers
    psi: float  # detectability of the provenance signal
    royalty: float  # royalty per unit actually charged (statutory), min(r, p̄) under a cap
    transfer: float  # lump sum per producer, funded by a lump-sum levy on trainers
    watermark: float  # w
    disclosure_cost: float  # per unit of content used, under disclosure
    watermark_cost: float  # per synthetic unit and unit of w, under a watermark


def policy_levers(policy: str, *, subsidy: float, watermark: float, royalty: float, royalty_cap: float,
                  transfer: float, detectability_0: float, disclosure_cost: float, watermark_cost: float
                  ) -> PolicyLevers:
    """The levers of `policy` (docs/model.md §7); levels of instruments not in force are zero (validated upstream)."""
    w = watermark if policy == "watermark" else 0.0
    return PolicyLevers(
        subsidy=subsidy if policy == "subsidy" else 0.0,
        psi=1.0 if policy == "disclosure" else float(detectability(detectability_0, w)),
        royalty=min(royalty, royalty_cap) if policy == "royalty-cap" else royalty,
        transfer=transfer if policy == "transfer" else 0.0,
        watermark=w,
        disclosure_cost=disclosure_cost if policy == "disclosure" else 0.0,
        watermark_cost=watermark_cost if policy == "watermark" else 0.0,
    )


def policy_cost(levers: PolicyLevers, used_volume, synthetic_volume, volume: float):
    """Resource cost per unit of V: disclosure_cost per unit used plus watermark_cost * w per synthetic unit."""
    return (levers.disclosure_cost * used_volume + levers.watermark_cost * levers.watermark * synthetic_volume) / volume


def lump_sum_transfer(levers: PolicyLevers, n_producers: float, n_trainers: int) -> tuple[float, float]:
    """(received by each producer, levied on each trainer): T, and N T / M, so the budget balances."""
    return levers.transfer, levers.transfer * n_producers / n_trainers


def optimal_subsidy(kl, collapse_weight: float):
    """s* = KL(q_rho*‖p) / (2 kappa), eq. (10) (Corollary 1)."""
    return kl / (2.0 * collapse_weight)


def optimal_watermark(kl, collapse_weight: float, psi):
    """w* = (1 - psi) KL(q_rho*‖p) / (2 kappa psi), eq. (12)."""
    return (1.0 - psi) * kl / (2.0 * collapse_weight * psi)
