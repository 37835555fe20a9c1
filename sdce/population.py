"""Who is in the market: the fixed trainer population and the producer-type law (docs/model.md §3-§4).

The ABM draws N producers from the type law with the run's seed; the continuum market integrates over the same law
with a fixed quadrature (`producer_type_grid`). The M trainers are a fixed population: their primitives come from
`trainer_seed`, not from the run's seed, so that replications and the N → ∞ limit concern the same trainers
(M stays fixed as N grows).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import beta

from sdce.config import SDCEConfig


class Trainers(NamedTuple):
    labor: np.ndarray  # L_j
    compute: np.ndarray  # K_j
    revenue_weight: np.ndarray  # kappa_j


class ProducerTypes(NamedTuple):
    phi_bar: np.ndarray  # ability
    nu: np.ndarray  # intrinsic motivation
    weight: np.ndarray  # probability mass of each type (sums to 1)


def trainer_primitives(cfg: SDCEConfig) -> Trainers:
    """L_j, K_j, kappa_j: independent mean-one log-normals with log-sd `trainer_heterogeneity`."""
    sd = cfg.trainer_heterogeneity
    draws = np.random.default_rng(cfg.trainer_seed).lognormal(-0.5 * sd**2, sd, (3, cfg.n_trainers))
    return Trainers(*draws)


def _beta_shape(cfg: SDCEConfig) -> tuple[float, float]:
    a = cfg.ability_mean * cfg.ability_concentration
    return a, cfg.ability_concentration - a


def draw_producer_types(cfg: SDCEConfig, rng: np.random.Generator) -> ProducerTypes:
    """N producers: phi_bar ~ Beta (mean `ability_mean`), nu ~ Exponential(`nu_mean`), equal weights."""
    n = cfg.n_producers
    phi_bar = rng.beta(*_beta_shape(cfg), n)
    nu = rng.exponential(cfg.nu_mean, n) if cfg.nu_mean > 0 else np.zeros(n)
    return ProducerTypes(phi_bar, nu, np.full(n, 1.0 / n))


def producer_type_grid(cfg: SDCEConfig, nodes: int) -> ProducerTypes:
    """The continuum of types as a tensor grid of `nodes` equal-probability quantiles of each marginal
    (midpoint rule in probability: phi_bar and nu are independent), nodes² types of weight nodes^-2."""
    if nodes < 2:
        raise ValueError(f"type_nodes must be >= 2, got {nodes}")
    u = (np.arange(nodes) + 0.5) / nodes
    phi_bar = beta.ppf(u, *_beta_shape(cfg))
    nu = -cfg.nu_mean * np.log1p(-u)
    grid_phi, grid_nu = np.meshgrid(phi_bar, nu, indexing="ij")
    return ProducerTypes(grid_phi.ravel(), grid_nu.ravel(), np.full(nodes**2, 1.0 / nodes**2))
