"""PMIR in the continuum (docs/model.md §6, §9): Algorithm 1's expected dynamics on the type grid.

Each producer type k is split into G sub-producers at the Gauss-Hermite nodes of its signal noise (masses
w_k times the node weights): in the continuum the running-mean estimate of a producer after r signals is
phi_k + sigma e / sqrt(r), e ~ N(0, 1), and a sub-producer carries one node e. The rounds are `sdce.pmir`'s with
`stochastic=False`: expected bundles h̄ pi and the expected minibatch TD loss. Each sub-producer also has price
copies (`price_copies`): greedy (mass 1 - epsilon) and exploring at the Gauss-Hermite nodes of the lognormal
perturbation, and its base price moves by their mass-weighted line-18 gradient, the ABM's step in expectation.
Types are aggregated back by summing over their sub-producers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sdce.config import SDCEConfig
from sdce.dataworld.mixture import mixture_moments
from sdce.economics.technology import collapse_factor
from sdce.pmir import (
    EXPLORATION_NODES,
    EXPLORATION_SD,
    PRICE_COPIES,
    Generation,
    PMIRState,
    generation_rounds,
    initial_state,
    myopic_start,
    policy_fields,
)

NOISE_NODES = 3  # Gauss-Hermite nodes per type for the running-mean noise


def noise_nodes(count: int = NOISE_NODES):
    """Nodes and weights of E f(e), e ~ N(0, 1) (probabilists' Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(count)
    return jnp.asarray(nodes, jnp.float32), jnp.asarray(weights / weights.sum(), jnp.float32)


def price_copies(cfg: SDCEConfig):
    """Posted / base price and mass share of a sub-producer's copies: greedy (1 - epsilon), then exploring at the
    Gauss-Hermite nodes of the lognormal perturbation exp(sd e) (epsilon times the node weights)."""
    nodes, weights = noise_nodes(EXPLORATION_NODES)
    shift = jnp.concatenate([jnp.ones(1), jnp.exp(EXPLORATION_SD * nodes)])
    return shift, jnp.concatenate([jnp.asarray([1 - cfg.exploration]), cfg.exploration * weights])


def initial_pmir(cfg: SDCEConfig, econ, phi, rho) -> PMIRState:
    """The PMIR state at round 0 for the type grid split at the noise nodes."""
    start = myopic_start(cfg, phi, cfg.capacity * econ.weight, cfg.capacity, econ.productivity, econ.money_per_quality,
                         rho)
    return initial_state(cfg, phi.shape[0] * NOISE_NODES * PRICE_COPIES, *start)


def pmir_generation(cfg: SDCEConfig, econ, phi, pmir: PMIRState, models, shares, fidelity, first: bool):
    """One generation's rounds in the continuum: bundles and payments by type (K, M), the trainers' outlays at the
    posted prices (M,), the marginal revenue of provenance by type (K,), the new PMIR state and the learning
    curves."""
    nodes, node_weights = noise_nodes()
    shift, copy_mass = price_copies(cfg)
    g, c = nodes.shape[0], shift.shape[0]
    k = phi.shape[0]
    p_moments = mixture_moments(*econ.p)
    if first:
        public = source = p_moments
    else:
        public = mixture_moments(shares, models.means, models.covs)
        source = mixture_moments(shares, models.means, models.covs, econ.params.temperature)
    sub_mass = jnp.outer(node_weights, copy_mass).ravel()  # within a type, (noise node, copy), copy fastest
    gen = Generation(jnp.repeat(phi, g * c), jnp.outer(cfg.capacity * econ.weight, sub_mass).ravel(),
                     jnp.tile(jnp.repeat(nodes, c), k), jnp.tile(shift, k * g), econ.productivity,
                     econ.money_per_quality, collapse_factor(fidelity, econ.params.kappa_q), p_moments, source, public,
                     **policy_fields(cfg))
    pmir, bundles, payments, paid, mr, curves = generation_rounds(cfg, gen, pmir, jax.random.key(0), cfg.pmir_rounds,
                                                            False)
    by_type = (lambda a: a.reshape((k, g * c) + a.shape[1:]).sum(1))
    return by_type(bundles), by_type(payments), paid, mr.reshape(k, g * c) @ sub_mass, pmir, curves
