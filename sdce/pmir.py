"""PMIR, Algorithm 1 of the paper, in JAX (docs/model.md §6): the market rounds of one generation.

One round is lines 4-19 of Algorithm 1. Trainer j's bundle policy pi_theta_j is a logit (two-action softmax) per
producer over the features x_ij = (1, phi_hat_i, rho_t, p_i / v_j): running-mean provenance estimate, contamination,
and posted price relative to the trainer's mean marginal value v_j of a unit. It buys b_ij = h̄_i Bernoulli(pi_ij)
(the continuum takes the expectation h̄_i pi_ij). Quality follows eq. (2) with the true phi and the trainer's current
collapse factor; rho follows eq. (1) over the units used. Trainers pay posted prices (eq. 3); the clearinghouse
pays each trainer's outlay out to the producers in its bundle in proportion to p_i times their eq. (4)
leave-one-out contribution (`sdce.economics.posted_prices`), so payments balance exactly. The reward per unit of a
trainer's volume share is shaped by -beta W2(q_{t+1}, q_t) (line 10): W2 of the predicted next public model (the
trainers' fits to their own (1 - rho_j) p + rho_j q̃_t mixtures, mixed by output share) from the current one, on
their Gaussian moments, by ott-jax. Each trainer stores (s, r̃, s') with s = (rho, price level) in its replay
buffer, fits a linear TD(0) critic on minibatches (line 14) and takes a policy-gradient step (line 15) with the
influence-function estimator: the expected bundle's gradient times d[r̃_j + gamma V_j(s')]/d b_ij, all by
autodiff, with optax Adam. Producers then move their prices along the gradient of their expected receipts
(line 18), computed from the trainers' posted demand response, or explore with probability epsilon.

`generation_rounds` runs the rounds of one generation in one `lax.scan`; `stochastic=False` gives the continuum's
deterministic expected dynamics on a weighted population of (type, signal-noise node) sub-producers.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from sdce.config import SDCEConfig
from sdce.dataworld.metrics import w2_squared_bures
from sdce.dataworld.mixture import mixture_moments
from sdce.economics.contamination import contamination_ratio
from sdce.economics.ledger import posted_price_outlays
from sdce.economics.posted_prices import (
    marginal_unit_values,
    price_gradient,
    price_weighted_payments,
    provenance_marginal_revenue,
)
from sdce.economics.signals import signal_variance
from sdce.economics.technology import elasticities, provenance_value, quality

N_FEATURES = 4  # see `features`
N_CRITIC = 4  # 1, rho, rho², price level
EXPLORATION_SD = 0.5  # sd of an exploring producer's log-price perturbation
EXPLORATION_NODES = 3  # the continuum's Gauss-Hermite nodes for that perturbation
PRICE_COPIES = 1 + EXPLORATION_NODES  # the continuum's copies of a sub-producer: greedy, then exploring
INPUT_FLOOR = 1e-9  # least share of V of each input in Q_j: a trainer buying none of one input has finite gradients
W2_FLOOR = 1e-12  # W2 = sqrt(W2² + floor): differentiable at zero drift


class Learner(NamedTuple):
    """Per-trainer learning state, stacked on a leading M axis."""

    theta: jax.Array  # (M, F) policy
    critic: jax.Array  # (M, C) linear TD critic
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    buffer: jax.Array  # (M, B, 2 + 1 + 2): s, r̃, s'
    stored: jax.Array  # transitions stored so far (int32)


class PMIRState(NamedTuple):
    learner: Learner
    prices: jax.Array  # (N,) posted prices
    signal_sum: jax.Array  # (N,) signals received this generation (running mean = sum / count)
    signal_count: jax.Array  # signals per producer this generation
    rho: jax.Array  # rho of the last round
    level: jax.Array  # price level of the last round (mean price / mean value)
    value_scale: jax.Array  # (M,) v_j, mean marginal value of a unit in the last round


class Generation(NamedTuple):
    """What one generation's rounds hold fixed."""

    phi: jax.Array  # (N,) true provenance
    capacity: jax.Array  # (N,) h̄_i (the continuum: h̄ times the sub-producer's mass)
    nodes: jax.Array  # (N,) signal-noise node of each sub-producer (continuum; zeros in the ABM)
    shift: jax.Array  # (N,) posted / base price of each sub-producer (continuum: 1, or an exploration node; ABM: 1)
    productivity: jax.Array  # Z_j (M,)
    money: jax.Array  # P_Q kappa_j V / M (M,)
    collapse: jax.Array  # exp(-kappa_Q D_j) of the current models (M,)
    p_moments: tuple  # (mean, cov) of p
    source_moments: tuple  # (mean, cov) of the tempered public model q̃_t that synthetic data is drawn from
    public_moments: tuple  # (mean, cov) of q_t
    subsidy: jax.Array  # s of the policy in force (traced, so that policies share one compilation)
    psi: jax.Array  # detectability of the signals
    price_cap: jax.Array  # p̄ under a royalty cap, else inf


def _adam(rate: float) -> optax.GradientTransformation:
    """Lines 14-15: Adam with step `policy_rate`; an update with a non-finite gradient (float32 overflow near an
    empty input) is skipped by `optax.apply_if_finite` and counted in its state."""
    return optax.apply_if_finite(optax.adam(rate), max_consecutive_errors=10**9)


def initial_state(cfg: SDCEConfig, n: int, value_scale, theta) -> PMIRState:
    """Round 0: policies `theta` (M, F), prices at `initial_price`, empty buffers and a zero critic."""
    m = cfg.n_trainers
    theta = jnp.asarray(theta, jnp.float32)
    critic = jnp.zeros((m, N_CRITIC), jnp.float32)
    opt = _adam(cfg.policy_rate)
    learner = Learner(theta, critic, jax.vmap(opt.init)(theta), jax.vmap(opt.init)(critic),
                      jnp.zeros((m, cfg.replay_size, 5), jnp.float32), jnp.asarray(0, jnp.int32))
    return PMIRState(learner, jnp.full(n, cfg.initial_price, jnp.float32), jnp.zeros(n, jnp.float32),
                     jnp.asarray(0.0, jnp.float32), jnp.asarray(0.0, jnp.float32), jnp.asarray(0.0, jnp.float32),
                     jnp.asarray(value_scale, jnp.float32))


def myopic_start(cfg: SDCEConfig, phi, capacity, volume, productivity, money_per_quality, rho):
    """v_j and the policies trainers start from: eq. (3)'s smoothed demand at round 0, when every trainer buys
    everything at the initial price. Its logit (m_ij - p_i)/T is linear in the features because m_ij is linear in
    phi_i: theta_j = ((mean_i m_ij - p_0)/T, (a_j - c_j)/T, 0, -v_j/T) with T = `bundle_temp`."""
    bundles = jnp.broadcast_to(capacity[:, None], (capacity.shape[0], cfg.n_trainers))
    gamma, delta = elasticities(rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
    q = quality(productivity, phi @ bundles / volume, (1 - phi) @ bundles / volume, gamma, delta)
    values = marginal_unit_values(phi, bundles, q, gamma, delta, money_per_quality)
    value_scale = (values * bundles).sum(0) / bundles.sum(0)
    slope = provenance_value(money_per_quality * q, phi @ bundles, (1 - phi) @ bundles, gamma, delta)
    temp = cfg.bundle_temp
    theta = jnp.stack([(values.mean(0) - cfg.initial_price) / temp, slope / temp, jnp.zeros_like(slope),
                       -value_scale / temp], axis=1)
    return value_scale, theta


def new_generation(state: PMIRState) -> PMIRState:
    """Producers have just chosen a new provenance: the running means restart."""
    return state._replace(signal_sum=jnp.zeros_like(state.signal_sum), signal_count=jnp.zeros_like(state.signal_count))


def features(phi_hat, prices, rho, value_scale, weights):
    """x_ij = (1, phĩ_i - mean phĩ, rho (phĩ_i - mean phĩ), (p_i - mean p) / v_j), shape (N, M, F), means weighted
    by capacity. Centred, so the intercept carries the level of demand and the other coefficients the trainer's
    relative preferences."""
    n, m = phi_hat.shape[0], value_scale.shape[0]
    provenance = jnp.broadcast_to((phi_hat - weights @ phi_hat)[:, None], (n, m))
    return jnp.stack([jnp.ones((n, m)), provenance, rho * provenance,
                      (prices - weights @ prices)[:, None] / value_scale], axis=-1)


def critic_features(s):
    """(1, rho, rho², level) of states s = (..., 2)."""
    rho, level = s[..., 0], s[..., 1]
    return jnp.stack([jnp.ones_like(rho), rho, rho**2, level], axis=-1)


def _w2(mean_a, cov_a, mean_b, cov_b):
    """W2 between Gaussians: ‖m_a − m_b‖² + tr A + tr B − 2 tr (A^½ B A^½)^½, square-rooted. The Bures term is
    `bures_trace`, which is twice differentiable: the learners differentiate this reward, and structural calibration
    differentiates the learners (ott-jax's `Gaussian.w2_dist` has no second derivative)."""
    return jnp.sqrt(jnp.maximum(w2_squared_bures(mean_a, cov_a, mean_b, cov_b), 0.0) + W2_FLOOR)


class Outcome(NamedTuple):
    rho: jax.Array
    quality: jax.Array  # (M,)
    paid: jax.Array  # (M,)
    reward: jax.Array  # (M,) unshaped, per unit of V / M
    shaped: jax.Array  # (M,) r̃
    drift: jax.Array  # W2(q_{t+1}, q_t)
    gamma: jax.Array
    delta: jax.Array


def outcome(cfg: SDCEConfig, gen: Generation, bundles, phi_hat, prices, volume) -> Outcome:
    """Lines 6-10 for bundles (N, M): quality, rho, what trainers pay, and the shaped rewards."""
    m = bundles.shape[1]
    human, synthetic = gen.phi @ bundles, (1 - gen.phi) @ bundles
    rho = contamination_ratio(bundles.sum(1), gen.phi)
    gamma, delta = elasticities(rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
    q = quality(gen.productivity, jnp.maximum(human / volume, INPUT_FLOOR),
                jnp.maximum(synthetic / volume, INPUT_FLOOR), gamma, delta, gen.collapse)
    paid = posted_price_outlays(prices, bundles)
    reward = (gen.money * q - paid + gen.subsidy * (phi_hat @ bundles)) / (volume / m)
    own_rho = synthetic / jnp.maximum(human + synthetic, 1e-30)
    sources = tuple(jnp.stack(pair) for pair in zip(gen.p_moments, gen.source_moments))  # p and q̃_t
    means, covs = jax.vmap(lambda r: mixture_moments(jnp.stack([1 - r, r]), *sources))(own_rho)
    shares = q / jnp.maximum(q.sum(), 1e-30)
    drift = _w2(*mixture_moments(shares, means, covs), *gen.public_moments)
    return Outcome(rho, q, paid, reward, reward - cfg.shaping_beta * drift, drift, gamma, delta)


def _estimates(cfg: SDCEConfig, stochastic: bool, gen: Generation, state: PMIRState, key):
    """Lines 4-5: this round's signals and the running-mean estimates phi_hat, clipped to [0, 1] as perceived."""
    noise_sd = jnp.sqrt(signal_variance(cfg.signal_sd, gen.psi))
    count = state.signal_count + 1
    if stochastic:  # one signal per producer per round; the estimate is the running mean (Theorem 5)
        signal_sum = state.signal_sum + gen.phi + noise_sd * jax.random.normal(key, gen.phi.shape)
        phi_hat = signal_sum / count
    else:  # its law in the continuum: phi + noise_sd / sqrt(count) times the sub-producer's noise node
        signal_sum = state.signal_sum
        phi_hat = gen.phi + noise_sd * gen.nodes / jnp.sqrt(count)
    return signal_sum, count, jnp.clip(phi_hat, 0.0, 1.0)


def _posted_prices(cfg: SDCEConfig, stochastic: bool, gen: Generation, prices, k_explore, k_noise):
    """The prices posted this round: epsilon-greedy exploration (Assumption 3) around the base prices."""
    if stochastic:  # an exploring producer posts a perturbed price this round
        explore = jax.random.bernoulli(k_explore, cfg.exploration, prices.shape)
        wander = jnp.minimum(prices * jnp.exp(EXPLORATION_SD * jax.random.normal(k_noise, prices.shape)),
                             gen.price_cap)
        return jnp.where(explore, wander, prices)
    return jnp.minimum(prices * gen.shift, gen.price_cap)  # a greedy copy (shift 1) and exploring copies at nodes


def _stored(cfg: SDCEConfig, learner: Learner, s, shaped, s_next):
    """Line 11: (s, r̃, s') into each trainer's replay buffer (a ring); the buffer and the count stored."""
    m = shaped.shape[0]
    entry = jnp.concatenate([jnp.broadcast_to(s, (m, 2)), shaped[:, None], jnp.broadcast_to(s_next, (m, 2))],
                            axis=1)
    return learner.buffer.at[:, learner.stored % cfg.replay_size].set(entry), learner.stored + 1


def _critic_step(cfg: SDCEConfig, stochastic: bool, learner: Learner, buffer, stored, shaped, opt, key):
    """Lines 13-14: one TD(0) step of each trainer's linear critic on a minibatch of its buffer (the continuum:
    the whole filled buffer, the expected minibatch loss); the critic, its optimizer state and the loss."""
    m = shaped.shape[0]
    filled = jnp.minimum(stored, cfg.replay_size)
    if stochastic:
        idx = jax.random.randint(key, (m, cfg.replay_batch), 0, filled)
        batch = jnp.take_along_axis(buffer, idx[..., None], axis=1)
        mask = jnp.ones((m, cfg.replay_batch))
    else:
        batch = buffer
        mask = jnp.broadcast_to((jnp.arange(cfg.replay_size) < filled)[None], (m, cfg.replay_size))

    def td_loss(w, batch, mask):
        target = batch[:, 2] + cfg.discount * jax.lax.stop_gradient(critic_features(batch[:, 3:5]) @ w)
        error = target - critic_features(batch[:, :2]) @ w
        return (mask * error**2).sum() / mask.sum()

    first = learner.stored == 0  # the critic starts at the value of a constant stream of the first reward
    start = learner.critic.at[:, 0].set(shaped / (1 - cfg.discount))
    critic = jnp.where(first, start, learner.critic)
    critic_loss, critic_grad = jax.vmap(jax.value_and_grad(td_loss))(critic, batch, mask)
    step, critic_opt = jax.vmap(opt.update)(critic_grad, learner.critic_opt)
    return optax.apply_updates(critic, step), critic_opt, critic_loss


def _actor_step(cfg: SDCEConfig, gen: Generation, learner: Learner, x, bundles, perceived, posted, volume, opt):
    """Line 15: one policy-gradient step with the influence-function estimator, d E[b_ij]/d theta_j times
    d[r̃_j + gamma V_j(s')]/d b_ij. Mean-field decoupling (Definition 1, Theorem 6's proof): a trainer takes the
    market state s' = (rho, level) as given, so gamma V_j(s') does not move with its own bundle and the influence
    is d r̃_j / d b_ij. The objective adds eq. (3)'s smoothing, T times the binary entropy of pi_ij."""
    m = learner.theta.shape[0]
    jac = jax.jacrev(lambda b: outcome(cfg, gen, b, perceived, posted, volume).shaped)(bundles)  # (M, N, M)
    influence = jnp.diagonal(jac, axis1=0, axis2=2)  # (N, M): d objective_j / d b_ij, a constant in `surrogate`
    entropy_weight = cfg.bundle_temp * m / volume  # T per unit of V / M, the units of the reward

    def surrogate(theta):
        z = jnp.einsum("nmf,mf->nm", x, theta)
        probs = jax.nn.sigmoid(z)
        entropy = jax.nn.softplus(z) - z * probs  # binary entropy of pi_ij
        objective = gen.capacity[:, None] * (probs * influence + entropy_weight * entropy)
        return -objective.sum(0)  # minus, per trainer: optax minimises

    actor_grad = jax.grad(lambda theta: surrogate(theta).sum())(learner.theta)  # row j depends on theta_j only
    step, actor_opt = jax.vmap(opt.update)(actor_grad, learner.actor_opt)
    return optax.apply_updates(learner.theta, step), actor_opt


def _price_step(cfg: SDCEConfig, stochastic: bool, gen: Generation, state: PMIRState, posted, pi, values, bundles,
                paid):
    """Line 18: base prices along the gradient of expected receipts, projected on [0, p̄]; a non-finite gradient
    keeps the old price. Returns the new prices and the gradient."""
    prices = state.prices
    gradient = price_gradient(posted, pi, cfg.capacity, values, bundles, paid, state.learner.theta[:, 3],
                              state.value_scale)  # for one producer of capacity h̄ (a continuum type: per member)
    if not stochastic:  # the expected step of a parent: its copies' gradients weighted by their masses
        by_parent = gradient.reshape(-1, PRICE_COPIES)
        mass = gen.capacity.reshape(-1, PRICE_COPIES)
        expected = (by_parent * mass).sum(1) / jnp.maximum(mass.sum(1), 1e-30)
        gradient = jnp.repeat(expected, PRICE_COPIES)
    new_prices = jnp.where(jnp.isfinite(gradient),
                           jnp.clip(prices + cfg.learning_rate * gradient, 0.0, gen.price_cap), prices)
    return new_prices, gradient


def _round(cfg: SDCEConfig, stochastic: bool, gen: Generation, state: PMIRState, key):
    """One round of Algorithm 1 (lines 4-19); returns the new state, the round's bundles and payments, the
    producers' marginal revenue of provenance, and the learning-curve entries. `stochastic=False` is the
    continuum's expected round."""
    k_signal, k_bundle, k_batch, k_explore, k_noise = jax.random.split(key, 5)
    volume = gen.capacity.sum()
    signal_sum, count, perceived = _estimates(cfg, stochastic, gen, state, k_signal)
    learner = state.learner
    posted = _posted_prices(cfg, stochastic, gen, state.prices, k_explore, k_noise)

    x = features(perceived, posted, state.rho, state.value_scale, gen.capacity / volume)
    pi = jax.nn.sigmoid(jnp.einsum("nmf,mf->nm", x, learner.theta))
    if stochastic:
        bundles = gen.capacity[:, None] * jax.random.bernoulli(k_bundle, pi).astype(pi.dtype)
    else:
        bundles = gen.capacity[:, None] * pi
    out = outcome(cfg, gen, bundles, perceived, posted, volume)

    # line 8: Shapley-additive payments, balanced against what trainers paid
    values = marginal_unit_values(gen.phi, bundles, out.quality, out.gamma, out.delta, gen.money,
                                  INPUT_FLOOR * volume)
    payments = price_weighted_payments(bundles, posted, gen.phi, volume, gen.productivity, out.gamma, out.delta,
                                       gen.collapse, gen.money, out.quality, out.paid,
                                       exact=stochastic)
    used = bundles.sum(0)
    value_scale = jnp.where(used > 0, (values * bundles).sum(0) / jnp.maximum(used, 1e-30), state.value_scale)
    level = (posted @ bundles.sum(1)) / jnp.maximum((values * bundles).sum(), 1e-30)

    buffer, stored = _stored(cfg, learner, jnp.stack([state.rho, state.level]), out.shaped,
                             jnp.stack([out.rho, level]))
    opt = _adam(cfg.policy_rate)
    critic, critic_opt, critic_loss = _critic_step(cfg, stochastic, learner, buffer, stored, out.shaped, opt,
                                                   k_batch)
    theta, actor_opt = _actor_step(cfg, gen, learner, x, bundles, perceived, posted, volume, opt)
    new_prices, gradient = _price_step(cfg, stochastic, gen, state, posted, pi, values, bundles, out.paid)

    marginal_revenue = provenance_marginal_revenue(posted, pi, gen.capacity, gen.phi, bundles, out.quality,
                                                   out.gamma, out.delta, gen.money, values, out.paid,
                                                   learner.theta[:, 1], INPUT_FLOOR * volume)
    new_learner = Learner(theta, critic, actor_opt, critic_opt, buffer, stored)
    new_state = PMIRState(new_learner, new_prices, signal_sum, count, out.rho, level, value_scale)
    curves = {"return": out.shaped.mean(), "reward": out.reward.mean(), "critic_loss": critic_loss.mean(),
              "price": posted.mean(), "rho": out.rho, "drift": out.drift, "buy_share": pi.mean(),
              "theta_phi": learner.theta[:, 1].mean(), "theta_price": learner.theta[:, 3].mean(),
              "skipped_updates": actor_opt.total_notfinite.sum() + critic_opt.total_notfinite.sum(),
              "kept_prices": (~jnp.isfinite(gradient)).sum()}
    return new_state, (bundles, payments, marginal_revenue, out.paid, curves)


def policy_fields(cfg: SDCEConfig) -> dict:
    """The `Generation` fields of `cfg`'s policy: subsidy, detectability and price cap."""
    levers = cfg.levers()
    cap = cfg.royalty_cap if cfg.policy == "royalty-cap" else float("inf")
    return {"subsidy": jnp.float32(levers.subsidy), "psi": jnp.float32(levers.psi), "price_cap": jnp.float32(cap)}


def generation_rounds(cfg: SDCEConfig, gen: Generation, state: PMIRState, key, rounds: int, stochastic: bool):
    """`rounds` rounds of Algorithm 1 at fixed provenance and models: the final state, the last round's bundles,
    payments and trainers' outlays at the posted prices (the ledger's paid side), the producers' marginal revenue
    of provenance averaged over the rounds, and the learning curves.
    The policy travels in `gen`, so configurations that differ only in their policy share one compilation."""
    structural = cfg.replace(policy="none", subsidy=0.0, watermark=0.0, royalty_cap=float("inf"), transfer=0.0)
    return _generation_rounds(structural, gen, state, key, rounds, stochastic)


@partial(jax.jit, static_argnames=("cfg", "rounds", "stochastic"))
def _generation_rounds(cfg: SDCEConfig, gen: Generation, state: PMIRState, key, rounds: int, stochastic: bool):
    state, (bundles, payments, mr, paid, curves) = jax.lax.scan(partial(_round, cfg, stochastic, gen),
                                                                new_generation(state), jax.random.split(key, rounds))
    return state, bundles[-1], payments[-1], paid[-1], mr.mean(0), curves
