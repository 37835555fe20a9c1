"""The continuum market (docs/model.md §9): the ABM's generation with N → ∞ producers, in JAX.

A continuum of producer types (phi_bar, nu) ~ F is integrated by a fixed quadrature (`producer_type_grid`); the M
trainers are the ABM's fixed trainer population. Signal noise averages out: under `statutory` each type's demand
is the expectation over its signal noise (in closed form), and producers respond to the exact expected
marginal revenue, as the ABM's producers do. Everything else is the ABM's generation (`sdce_abm.model`) with the
same economic functions, on type masses instead of producers: volumes are per unit of content (V = h̄), and
Shapley payments take their N → ∞ form (the marginal product). Generation 0 fits human data only.

`trajectory` is jitted at the boundary and scans over generations; the world (Gaussian closed form or a grid
density) decides how the generative models move (`meanfield.worlds`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from meanfield.pmir import initial_pmir, pmir_generation
from sdce.config import SDCEConfig
from sdce.dataworld.mixture import human_distribution
from sdce.economics.contamination import contamination_ratio
from sdce.economics.policy import lump_sum_transfer, policy_cost
from sdce.economics.producers import partial_adjustment, producer_surplus, provenance_best_response
from sdce.economics.technology import collapse_factor, elasticities, productivity, quality, revenue
from sdce.economics.welfare import WELFARE_KEYS, welfare_components
from sdce.errors import ConfigError
from sdce.population import producer_type_grid, trainer_primitives
from sdce.regimes import Market, Offer, Settlement, regime_module

TYPE_NODES = 32  # quantiles per type dimension: 32² = 1024 producer types (quadrature error ~1e-4 in rho_T, Q_T)


class Parameters(NamedTuple):
    """The behavioural parameters the continuum reads as traced values, not from the static configuration
    (docs/model.md §12): what structural calibration differentiates, and what a sweep may `vmap` over."""

    temperature: jax.Array  # tau, of the synthetic source
    kappa_q: jax.Array  # kappa_Q, of the collapse factor exp(-kappa_Q D)
    cost_human: jax.Array  # c_H, the linear cost of provenance
    nu_mean: jax.Array  # the mean of intrinsic motivation nu ~ Exponential


PARAMETERS = Parameters._fields


class Economy(NamedTuple):
    """The continuum's primitives as arrays: producer types, the trainer population and the `Parameters`."""

    phi_bar: jax.Array  # (K,)
    nu_unit: jax.Array  # (K,) the types' quantiles of Exponential(1): nu = nu_mean nu_unit
    weight: jax.Array  # (K,) type masses, summing to 1
    productivity: jax.Array  # Z_j (M,)
    money_per_quality: jax.Array  # P_Q kappa_j V / M (M,)
    p: Any  # the human distribution in the world's representation
    params: Parameters

    @property
    def nu(self):
        """Intrinsic motivation by type (K,)."""
        return self.params.nu_mean * self.nu_unit

    def with_params(self, **values) -> Economy:
        """This economy with the `Parameters` in `values` replaced (traced values welcome)."""
        return self._replace(params=self.params._replace(**values))


class MarketState(NamedTuple):
    phi: jax.Array  # provenance by type (K,)
    marginal_revenue: jax.Array  # (K,) expected marginal revenue per unit of human share
    rho: jax.Array  # contamination of the last generation
    fidelity: jax.Array  # D_j of the last generation (M,)
    shares: jax.Array  # output shares of the last generation (M,)
    models: Any  # the world's generative models
    pmir: Any = None  # PMIR's learners and posted prices (regime pmir), `sdce.pmir.PMIRState`


def economy(cfg: SDCEConfig, p: Any, type_nodes: int = TYPE_NODES) -> Economy:
    """The continuum economy of `cfg`, with p in the world's representation."""
    if cfg.technology != "closed_form":
        raise ConfigError(f"the mean-field limit covers technology = closed_form; got technology={cfg.technology!r}")
    types = producer_type_grid(cfg.replace(nu_mean=1.0), type_nodes)
    trainers = trainer_primitives(cfg)
    z = productivity(cfg.tfp, trainers.labor, trainers.compute, cfg.alpha, cfg.beta_k)
    money = revenue(cfg.output_price, trainers.revenue_weight, 1.0, cfg.capacity, cfg.n_trainers)
    f32 = partial(jnp.asarray, dtype=jnp.float32)
    params = Parameters(*(f32(getattr(cfg, name)) for name in PARAMETERS))
    return Economy(f32(types.phi_bar), f32(types.nu), f32(types.weight), f32(z), f32(money), p, params)


def gaussian_p(cfg: SDCEConfig):
    """p as (weights, means, covs) arrays for the Gaussian world."""
    p = human_distribution(cfg.dim, cfg.human_dist, cfg.human_modes, cfg.human_mode_radius, cfg.human_mode_scale)
    return tuple(jnp.asarray(a, jnp.float32) for a in (p.weights, p.means, p.covs))


def endowed_provenance(cfg: SDCEConfig, econ: Economy):
    """Provenance by type in generation 0: phi_bar, or 1 - fixed_rho for every type when rho is held fixed (then in
    every generation: producers do not choose; docs/model.md §9)."""
    return econ.phi_bar if cfg.fixed_rho is None else jnp.full_like(econ.phi_bar, 1.0 - cfg.fixed_rho)


def weighted_quantiles(values, weights, probs):
    """Quantiles of a weighted sample (midpoint CDF, linear interpolation); NumPy or JAX."""
    order = jnp.argsort(values)
    cdf = jnp.cumsum(weights[order]) - 0.5 * weights[order]
    return jnp.interp(jnp.asarray(probs), cdf, values[order])


def _generation(cfg: SDCEConfig, world, rule: str, econ: Economy, state: MarketState, first: bool):
    """One generation of the continuum market; returns the new state and its outputs (docs/model.md §10). The
    `Parameters` are read from `econ`; the regimes read them from `traced`, the configuration with those fields as
    the traced values (attribute reads only: it is neither validated nor hashed)."""
    theta = econ.params
    traced = cfg.model_copy(update=theta._asdict())
    phi = endowed_provenance(cfg, econ) if first or cfg.fixed_rho is not None else partial_adjustment(
        state.phi, provenance_best_response(state.marginal_revenue, econ.nu, econ.phi_bar, theta.cost_human,
                                            cfg.cost_quadratic), cfg.adjust_rate)
    capacity = cfg.capacity * econ.weight
    volume = cfg.capacity
    m = cfg.n_trainers
    levers = cfg.levers()
    pmir, learning = state.pmir, {}
    if cfg.regime == "pmir":  # a learning regime: its rounds carry the learners' state (sdce.pmir)
        bundles, pmir_payments, pmir_paid, pmir_mr, pmir, learning = pmir_generation(
            cfg, econ, phi, state.pmir, state.models, state.shares, state.fidelity, first)
        demand, newton_residual = Settlement(pmir_payments, pmir_paid, pmir_mr), 0.0
    else:
        bundles, demand, newton_residual = regime_module(cfg.regime).expected_bundles(Offer(
            traced, levers, phi, capacity, econ.weight, volume, state.rho, econ.productivity, econ.money_per_quality,
            collapse_factor(state.fidelity, theta.kappa_q)))
    rho = contamination_ratio(bundles.sum(1), phi)
    human, synthetic = phi @ bundles, (1 - phi) @ bundles
    if first:
        models = world.first(econ.p, human + synthetic)
    else:
        models = world.retrain(state.models, econ.p, state.shares, human, synthetic, rule=rule,
                               data_mode=cfg.data_mode, tau=theta.temperature, train_time=cfg.train_time)
    fidelity = world.fidelity(models, econ.p)
    gamma, delta = elasticities(rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
    q_free = quality(econ.productivity, human / volume, synthetic / volume, gamma, delta)
    q = q_free * collapse_factor(fidelity, theta.kappa_q)

    # type masses settle as producers of capacity h̄ w_k (docs/model.md §6), in the N -> infinity limit
    payments, outlays, mr, fee, _ = regime_module(cfg.regime).settle(Market(
        traced, levers, bundles, phi, capacity, econ.nu, econ.phi_bar, volume, econ.productivity,
        collapse_factor(fidelity, theta.kappa_q), gamma, delta, econ.money_per_quality, q, finite=False, demand=demand))
    to_producer, levy = lump_sum_transfer(levers, 1.0, m)  # the continuum has producer mass 1
    received, paid = payments.sum(1) + to_producer * econ.weight, payments.sum(0) + levy

    shares = jnp.where(q.sum() > 0, q / q.sum(), 1.0 / m)
    kl = world.public_kl(models, shares, econ.p)
    surplus = producer_surplus(received, phi, econ.nu, capacity, cfg.cost_synthetic, theta.cost_human,
                               cfg.cost_quadratic)
    welfare = welfare_components(
        producer_surplus=surplus, revenue=econ.money_per_quality * q,
        revenue_collapse_free=econ.money_per_quality * q_free, paid_by_trainers=paid, kl=kl, rho=rho,
        collapse_weight=cfg.collapse_weight, lemon_penalty=cfg.lemon_penalty, volume=volume,
        policy_cost=policy_cost(levers, bundles.sum(), synthetic.sum(), volume) + fee / volume,
    )
    used = bundles.sum()
    quantiles = weighted_quantiles(phi, econ.weight, (0.1, 0.5, 0.9))
    out = {
        "rho": rho, "quality": q.mean(), "price": jnp.where(used > 0, payments.sum() / used, 0.0),
        "provenance": econ.weight @ phi, "provenance_p10": quantiles[0], "provenance_p50": quantiles[1],
        "provenance_p90": quantiles[2], "kl": kl, "w2_moments": world.public_w2_moments(models, shares, econ.p),
        **{k: jnp.asarray(welfare[k], jnp.float32) for k in WELFARE_KEYS},
        "quality_j": q, "fidelity_j": fidelity, "shares": shares, "phi": phi, "received": received / capacity,
        "budget_gap": (outlays + levy).sum() - received.sum() - fee,
        "newton_residual": jnp.asarray(newton_residual),
        "public": world.public(models, shares), **{f"learning_{k}": v for k, v in learning.items()},
    }
    return MarketState(phi, mr, rho, fidelity, shares, models, pmir), out


@partial(jax.jit, static_argnames=("cfg", "world", "rule", "generations"))
def trajectory(econ: Economy, cfg: SDCEConfig, world, rule: str, generations: int):
    """Generations 0..T of the continuum market: a dict of stacked outputs and the final state."""
    endowed = endowed_provenance(cfg, econ)
    rho = contamination_ratio(econ.weight, endowed)
    pmir = initial_pmir(cfg, econ, endowed, rho) if cfg.regime == "pmir" else None
    blank = MarketState(endowed, jnp.zeros_like(endowed), rho, jnp.zeros(cfg.n_trainers),
                        jnp.full(cfg.n_trainers, 1.0 / cfg.n_trainers), None, pmir)
    state, out0 = _generation(cfg, world, rule, econ, blank, first=True)

    def step(state, _):
        return _generation(cfg, world, rule, econ, state, first=False)

    state, outs = jax.lax.scan(step, state, None, length=generations)
    stacked = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), out0, outs)
    return stacked, state
