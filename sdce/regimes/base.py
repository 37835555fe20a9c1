"""What a regime settles and what it returns (docs/model.md §6). Arrays are NumPy (the ABM) or JAX (the continuum).

A regime is a module with `settle(market: Market) -> Settlement`: from one generation's bundles and technology it
gives the payments to producers, what each trainer pays by the regime's own terms (the money ledger's paid side,
never summed from the payment matrix) and producers' marginal revenue of provenance (section 3).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sdce.config import SDCEConfig
from sdce.economics.policy import PolicyLevers


class Perception(NamedTuple):
    """Statutory trainers' view of provenance and their marginal values (docs/model.md §4): the empirical-Bayes
    prior mean and reliability by trainer (M,), the signal noise sd, and the values a_j, c_j of a unit (M,)."""

    prior_mean: Any
    reliability: Any
    noise_sd: float
    value_h: Any
    value_s: Any


class Market(NamedTuple):
    """One generation's market as a regime settles it; producers are agents (ABM) or type masses (continuum)."""

    cfg: SDCEConfig
    levers: PolicyLevers
    bundles: Any  # b_ij (N, M)
    phi: Any  # provenance (N,)
    capacity: Any  # h̄_i (N,)
    nu: Any  # cost types (N,)
    phi_bar: Any  # endowed provenance (N,)
    volume: float  # V
    productivity: Any  # Z_j (M,)
    collapse: Any  # collapse factors exp(-kappa_Q D_j) (M,)
    gamma: Any  # human elasticity at this generation's rho
    delta: Any  # synthetic elasticity
    money_per_quality: Any  # P_Q kappa_j V/M (M,)
    quality: Any  # Q_j with collapse (M,)
    finite: bool  # True: N producers (eq. 4 exactly); False: the N -> infinity limit
    demand: Any = None  # the regime's own bundle outcome: `Perception` (statutory), `Settlement` (pmir's rounds)


class Settlement(NamedTuple):
    """Payments to producers by trainer (N, M), what trainers pay (M,), marginal revenue (N,), the intermediary's
    operating cost F V (a resource, 0 elsewhere) and the regime's own outcome, if any (the intermediary's deal)."""

    payments: Any
    outlays: Any
    marginal_revenue: Any
    fee: Any = 0.0
    detail: Any = None
