"""Statutory licensing (docs/model.md §6): a royalty r per unit used, paid to its producer; trainers choose their
bundles at the royalty on noisy provenance signals (docs/model.md §4), so producers' marginal revenue runs through
demand."""

from __future__ import annotations

import numpy as np

from sdce.economics.demand import NEWTON_STEP_CAP, bundle_demand, expected_logit_demand, marginal_values
from sdce.economics.ledger import royalty_outlays
from sdce.economics.payments import statutory_marginal_revenue, statutory_payments
from sdce.economics.signals import perceived_provenance, signal_reliability, signal_variance
from sdce.economics.technology import elasticities
from sdce.regimes.base import Market, Offer, Perception, Settlement
from sdce.xp import array_namespace

# the policies that change an outcome here: every instrument acts on the bundle demand or the payments
ACTING_POLICIES = frozenset({"none", "subsidy", "disclosure", "royalty-cap", "transfer", "watermark"})

NEWTON_TOL = 1e-5  # the continuum's Newton solve: max |residual| of the log aggregates (float32)
NEWTON_MAX_ITERATIONS = 100


def sampled_bundles(offer: Offer, rng: np.random.Generator) -> tuple:
    """The ABM: one noisy signal of each producer per trainer, the trainers' empirical-Bayes view of provenance,
    and each trainer's optimal bundle at the royalty given last generation's rho and fidelity."""
    cfg, levers = offer.cfg, offer.levers
    noise_var = signal_variance(cfg.signal_sd, levers.psi)
    signals = offer.phi[:, None] + np.sqrt(noise_var) * rng.standard_normal((offer.phi.shape[0], cfg.n_trainers))
    perceived, prior_mean, reliability = perceived_provenance(signals, noise_var)
    gamma, delta = elasticities(offer.rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
    scale = offer.money_per_quality * offer.productivity * offer.collapse
    prices = np.full(offer.phi.shape[0], levers.royalty)
    demand = bundle_demand(perceived, prices, offer.capacity, scale, gamma, delta, cfg.bundle_temp, levers.subsidy,
                           volume=offer.volume)
    return demand.bundles, Perception(prior_mean, reliability, float(np.sqrt(noise_var)), demand.value_h,
                                      demand.value_s, perceived)


def expected_bundles(offer: Offer) -> tuple:
    """The continuum: expected bundles by type (K, M) at the royalty over each type's signal noise, the trainers'
    `Perception`, and the final Newton residual. Trainers' empirical-Bayes aggregates are population moments:
    mu = E phi and var phĩ = var phi + noise. Each trainer's two perceived aggregates solve their fixed point by
    Newton's method with the Jacobian from `jax.jacfwd`; the solution is differentiated implicitly
    (`jax.lax.custom_root`: the implicit function theorem at the root, not the iterations)."""
    import jax  # here, not at the top: the configuration imports every regime, and JAX is slow to load
    import jax.numpy as jnp

    cfg, levers, phi, weight = offer.cfg, offer.levers, offer.phi, offer.weight
    noise_var = float(signal_variance(cfg.signal_sd, levers.psi))
    noise_sd = float(np.sqrt(noise_var))
    mu = weight @ phi
    reliability = signal_reliability(weight @ (phi - mu) ** 2 + noise_var, noise_var)
    centre, spread = mu + reliability * (phi - mu), reliability * noise_sd
    gamma, delta = elasticities(offer.rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
    scales = offer.money_per_quality * offer.productivity * offer.collapse
    capacity, volume = offer.capacity, offer.volume

    def demand(y, scale):
        value_h, value_s = marginal_values(scale, jnp.exp(y[0]), jnp.exp(y[1]), gamma, delta, volume)
        mean_b, mean_phi_b = expected_logit_demand(centre, spread, value_h, value_s, levers.royalty, capacity,
                                                   cfg.bundle_temp, levers.subsidy)
        return mean_b, mean_phi_b, value_h, value_s

    def residual(y, scale):
        mean_b, mean_phi_b, _, _ = demand(y, scale)
        return jnp.log(jnp.stack([mean_phi_b.sum(), (mean_b - mean_phi_b).sum()]) / volume) - y

    def residuals(y):
        return jax.vmap(residual)(y, scales)

    def newton(residuals, y0):
        def step(y, scale):
            jac, gap = jax.jacfwd(lambda y: (residual(y, scale),) * 2, has_aux=True)(y)
            return y - jnp.clip(jnp.linalg.solve(jac, gap), -NEWTON_STEP_CAP, NEWTON_STEP_CAP)

        def cond(carry):
            y, it = carry
            return (jnp.max(jnp.abs(residuals(y))) > NEWTON_TOL) & (it < NEWTON_MAX_ITERATIONS)

        def body(carry):
            y, it = carry
            return jax.vmap(step)(y, scales), it + 1

        return jax.lax.while_loop(cond, body, (y0, 0))[0]

    def tangent_solve(linear, rhs):
        jac = jax.jacobian(linear)(rhs).reshape(rhs.size, rhs.size)
        return jnp.linalg.solve(jac, rhs.ravel()).reshape(rhs.shape)

    y0 = jnp.log(jnp.tile(jnp.stack([weight @ centre, 1 - weight @ centre]), (cfg.n_trainers, 1)))
    y = jax.lax.custom_root(residuals, y0, newton, tangent_solve)
    gap = jnp.max(jnp.abs(residuals(jax.lax.stop_gradient(y))))
    mean_b, _, value_h, value_s = jax.vmap(demand, out_axes=(1, 1, 0, 0))(y, scales)
    seen = Perception(jnp.full(cfg.n_trainers, mu), jnp.full(cfg.n_trainers, reliability), noise_sd, value_h, value_s)
    return mean_b, seen, gap


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
