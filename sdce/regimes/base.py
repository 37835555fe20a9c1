"""What a regime sees and returns (docs/model.md §6). Arrays are NumPy (the ABM) or JAX (the continuum).

A regime is a module with three functions. `sampled_bundles(offer, rng)` (the ABM: N producers, random signals)
and `expected_bundles(offer)` (the continuum: producer types, the expectation over signal noise) give the bundles
b_ij trainers buy and what the settlement needs of that choice; `settle(market)` gives, from the generation's
bundles and technology, the payments to producers, what each trainer pays by the regime's own terms (the money
ledger's paid side, never summed from the payment matrix) and producers' marginal revenue of provenance
(section 3). PMIR's bundles come from its learning rounds (`sdce.pmir`), which the engines run with their state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sdce.economics.policy import PolicyLevers
from sdce.xp import array_namespace


class Perception(NamedTuple):
    """Statutory trainers' view of provenance and their marginal values (docs/model.md §4): the empirical-Bayes
    prior mean and reliability by trainer (M,), the signal noise sd, and the values a_j, c_j of a unit (M,)."""

    prior_mean: Any
    reliability: Any
    noise_sd: float
    value_h: Any
    value_s: Any
    perceived: Any = None  # phĩ_ij (N, M) the ABM's trainers saw; the continuum integrates over it


class Offer(NamedTuple):
    """A generation's producers before trainers buy, with last generation's market state."""

    cfg: Any  # `sdce.config.SDCEConfig` (which lists the regimes from `REGISTRY`, so it is not imported here)
    levers: PolicyLevers
    phi: Any  # provenance (N,)
    capacity: Any  # h̄_i (N,); a type's capacity times its mass in the continuum
    weight: Any  # producers' masses (N,), summing to 1
    volume: float  # V
    rho: Any  # last generation's contamination
    productivity: Any  # Z_j (M,)
    money_per_quality: Any  # P_Q kappa_j V/M (M,)
    collapse: Any  # last generation's collapse factors exp(-kappa_Q D_j) (M,)


class Market(NamedTuple):
    """One generation's market as a regime settles it; producers are agents (ABM) or type masses (continuum)."""

    cfg: Any  # `sdce.config.SDCEConfig` (which lists the regimes from `REGISTRY`, so it is not imported here)
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


def all_offered(offer: Offer):
    """b_ij = h̄_i: every trainer uses all content (open scraping, Shapley, the intermediary); a read-only
    broadcast."""
    xp = array_namespace(offer.capacity)
    return xp.broadcast_to(offer.capacity[:, None], (offer.capacity.shape[0], offer.cfg.n_trainers))
