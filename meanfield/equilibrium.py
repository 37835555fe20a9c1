"""The SDCE of Definition 1 in the continuum (docs/model.md §9), Theorem 1 by multi-start, and Proposition 1.

An SDCE is a stationary point of the continuum market's generation map: producers' provenance is a best response
to the marginal revenue it earns, trainers' bundles solve eq. (3) at the prices and the rho they face, volumes
clear, the rho implied by the supplies through eq. (1) is the rho that entered the elasticities, and each
trainer's model is stationary under its learning rule. The map is iterated to its fixed point (partial adjustment
theta_phi is the damping) from K random starts: random provenance profiles and random perturbations of the models.
Theorem 1 says the equilibrium price vector is generically unique; we report whether the starts agree and how far
apart they end.

The price of a type is what it is paid per unit of content in the equilibrium (statutory: the royalty times the
units used; Shapley: its marginal product; unregulated: nothing). Posted prices arrive with PMIR (docs/model.md §6).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from meanfield.market import MarketState, _generation, economy, gaussian_p, trajectory, weighted_quantiles
from meanfield.worlds import GaussianModels, GaussianWorld
from sdce.config import SDCEConfig
from sdce.economics.policy import optimal_subsidy, optimal_watermark
from sdce.economics.technology import collapse_factor, elasticities, productivity, quality
from sdce.economics.welfare import WELFARE_KEYS
from sdce.errors import ConfigError, EquilibriumNotConverged
from sdce.population import trainer_primitives
from sdce.results import Equilibrium, TimeAverage

STATIONARY_TOL = 1e-6  # max change of any state component in one generation at the fixed point
MAX_GENERATIONS = 5000
UNIQUE_TOL = 1e-4  # starts whose prices, provenance and rho agree within this reach "the same" equilibrium
PMIR_GENERATIONS = 150  # PMIR: generations run from each start (each `pmir_rounds` market rounds)
PMIR_WINDOW = 50  # PMIR: the last generations, over which the epsilon-SDCE is averaged
PMIR_MAX_GENERATIONS = 450  # PMIR: while a start has not settled, the run goes on a window at a time up to this
PMIR_BATCHES = 10  # PMIR: batch means over the window, for its standard errors and its trend test
PMIR_TREND_Z = 4.0  # PMIR: a start has settled when the trend over the window is within this many standard errors



def _distance(a: MarketState, b: MarketState):
    parts = [jnp.max(jnp.abs(a.phi - b.phi)), jnp.abs(a.rho - b.rho), jnp.max(jnp.abs(a.fidelity - b.fidelity)),
             jnp.max(jnp.abs(a.models.means - b.models.means)), jnp.max(jnp.abs(a.models.covs - b.models.covs))]
    return jnp.max(jnp.stack(parts))


@partial(jax.jit, static_argnames=("cfg", "rule"))
def _stationary(econ, starts: MarketState, cfg: SDCEConfig, rule: str):
    """Iterate the generation map from each start (vmapped) until it stops moving; then one more generation."""

    def run(state):
        def cond(carry):
            _, change, it = carry
            return (change > STATIONARY_TOL) & (it < MAX_GENERATIONS)

        def body(carry):
            state, _, it = carry
            new, _ = _generation(cfg, GaussianWorld, rule, econ, state, first=False)
            return new, _distance(new, state), it + 1

        state, change, its = jax.lax.while_loop(cond, body, (state, jnp.asarray(jnp.inf), 0))
        final, out = _generation(cfg, GaussianWorld, rule, econ, state, first=False)
        return state, final, out, its

    return jax.vmap(run)(starts)


def _starts(econ, first: MarketState, key, count: int) -> MarketState:
    """Start 0 is generation 0 of the market; the others draw provenance phi ~ U(0, phi_bar) by type and
    perturb each trainer's model (mean shift ~ N(0, 0.5² I), covariance scaled by a factor in (0.5, 1.5))."""
    k_phi, k_mean, k_cov = jax.random.split(key, 3)
    m, d = first.models.means.shape
    phi = econ.phi_bar * jax.random.uniform(k_phi, (count,) + econ.phi_bar.shape)
    phi = phi.at[0].set(first.phi)
    means = first.models.means + 0.5 * jax.random.normal(k_mean, (count, m, d))
    means = means.at[0].set(first.models.means)
    scale = jax.random.uniform(k_cov, (count, m, 1, 1), minval=0.5, maxval=1.5).at[0].set(1.0)
    covs = first.models.covs * scale
    rho = jax.vmap(lambda f: 1.0 - econ.weight @ f)(phi)
    models = GaussianModels(means, covs, *(jnp.broadcast_to(x, (count,) + x.shape) for x in first.models[2:]))
    pmir = jax.tree.map(lambda x: jnp.broadcast_to(x, (count,) + x.shape), first.pmir)
    return MarketState(phi, jnp.broadcast_to(first.marginal_revenue, (count,) + phi.shape[1:]), rho,
                       jnp.broadcast_to(first.fidelity, (count, m)), jnp.broadcast_to(first.shares, (count, m)), models,
                       pmir)


PMIR_KEYS = ("rho", "quality", "price", "kl", "received", "phi", "budget_gap", "fidelity_j", *WELFARE_KEYS)


@partial(jax.jit, static_argnames=("cfg", "rule", "generations"))
def _pmir_paths(econ, starts: MarketState, cfg: SDCEConfig, rule: str, generations: int):
    """The continuum PMIR's generations from each start (vmapped): the final states and the outputs of
    `PMIR_KEYS`, stacked."""

    def run(state):
        def step(state, _):
            new, out = _generation(cfg, GaussianWorld, rule, econ, state, first=False)
            return new, {k: out[k] for k in PMIR_KEYS}

        return jax.lax.scan(step, state, None, length=generations)

    return jax.vmap(run)(starts)


def _batch_means(window):
    """(starts, W) -> (starts, PMIR_BATCHES): means of consecutive batches of the window."""
    return window.reshape(window.shape[0], PMIR_BATCHES, -1).mean(2)


def _window_trend(window):
    """The change over the window of a least-squares line through its batch means, and that change's standard
    error from the residuals about the line (starts,): a drift does not inflate its own error."""
    batches = _batch_means(window)
    x = np.arange(PMIR_BATCHES) - (PMIR_BATCHES - 1) / 2
    slope = batches @ x / (x @ x)
    residual = batches - batches.mean(1, keepdims=True) - slope[:, None] * x
    slope_se = np.sqrt((residual**2).sum(1) / (PMIR_BATCHES - 2) / (x @ x))
    return np.abs(slope) * PMIR_BATCHES, slope_se * PMIR_BATCHES


def _mean_standard_error(path) -> float:
    """Standard error of a window's mean from its batch means, widened by their lag-1 autocorrelation r as for an
    AR(1) series, sqrt((1 + r) / (1 - r)), when batches are positively correlated (W,)."""
    batches = _batch_means(path[None])[0]
    centred = batches - batches.mean()
    r = float(centred[1:] @ centred[:-1] / max(centred @ centred, 1e-300))
    widen = np.sqrt((1 + r) / (1 - r)) if 0 < r < 1 else 1.0
    return float(batches.std(ddof=1) / np.sqrt(PMIR_BATCHES) * widen)


TREND_OBSERVABLES = ("rho", "quality", "price", "kl")  # what the trend test watches


def _trends(window: dict) -> dict:
    """`_window_trend` of each of `TREND_OBSERVABLES`: (change, its standard error), by start."""
    return {k: _window_trend(window[k]) for k in TREND_OBSERVABLES}


def _trend_z(window: dict, trends: dict):
    """The largest |trend| / its standard error over `TREND_OBSERVABLES`, by start."""
    return np.max([trends[k][0] / np.maximum(trends[k][1], 1e-12 * np.maximum(np.abs(window[k]).max(1), 1e-30))
                   for k in TREND_OBSERVABLES], axis=0)


def _pmir_equilibrium(cfg: SDCEConfig, econ, init: MarketState, starts: int) -> Equilibrium:
    """PMIR's continuum SDCE as Theorem 6's epsilon-SDCE: Algorithm 1's expected dynamics (`meanfield.pmir`) run
    `PMIR_GENERATIONS` generations from each start; the equilibrium is the mean over the last `PMIR_WINDOW`, with its
    standard error from `PMIR_BATCHES` batch means, and epsilon is the largest relative excursion of rho, Q and the
    mean price from it inside the window (constant-step Adam and line 18 keep an irregular oscillation). A start
    has settled when the trend of the batch means over the window is within `PMIR_TREND_Z` of its standard errors:
    no drift that the oscillation does not explain. While one has not, all run on a window at a time, up to
    `PMIR_MAX_GENERATIONS`, and each start's equilibrium is the first window in which it settled, so that it does
    not depend on the other starts. Starts reach the same equilibrium when their means differ by less than the
    excursions."""
    state, generations, windows = init, 0, []
    for _ in range(PMIR_GENERATIONS // PMIR_WINDOW - 1):  # one compiled window, run again and again
        state, _ = _pmir_paths(econ, state, cfg, cfg.learning_rule, PMIR_WINDOW)
        generations += PMIR_WINDOW
    chosen = np.full(starts, -1)  # by start: the first window in which it settled
    while True:
        state, window = _pmir_paths(econ, state, cfg, cfg.learning_rule, PMIR_WINDOW)
        generations += PMIR_WINDOW
        window = jax.tree.map(np.asarray, window)
        if not all(np.all(np.isfinite(window[k])) for k in ("rho", "quality", "price", "kl")):
            raise EquilibriumNotConverged(f"equilibrium: the continuum PMIR produced non-finite values by "
                                          f"generation {generations}")
        windows.append(window)
        settled = _trend_z(window, _trends(window)) < PMIR_TREND_Z
        chosen = np.where((chosen < 0) & settled, len(windows) - 1, chosen)
        if (chosen >= 0).all() or generations >= PMIR_MAX_GENERATIONS:
            break
    last = np.where(chosen >= 0, chosen, len(windows) - 1)  # a start that never settled: its last window
    window = {k: np.stack([windows[c][k][i] for i, c in enumerate(last)]) for k in windows[0]}
    ends = (PMIR_GENERATIONS + PMIR_WINDOW * last).tolist()
    centre = {k: v.mean(1) for k, v in window.items()}
    observables = ("rho", "quality", "price")
    excursion = {k: np.abs(window[k] - centre[k][:, None]).max(1) for k in observables}  # (starts,)
    epsilon = np.max([excursion[k] / np.maximum(np.abs(centre[k]), 1e-12) for k in observables], axis=0)
    trends = _trends(window)
    trend = np.max([trends[k][0] / np.maximum(np.abs(centre[k]), 1e-12) for k in observables], axis=0)
    trend_z = _trend_z(window, trends)
    converged = trend_z < PMIR_TREND_Z
    standard_error = {k: _mean_standard_error(window[k][0]) for k in TREND_OBSERVABLES}
    spread = {"price": float(np.max(np.abs(centre["price"] - centre["price"][0]))),
              "provenance": float(np.max(np.abs(centre["phi"] - centre["phi"][0]))),
              "rho": float(np.max(np.abs(centre["rho"] - centre["rho"][0])))}
    same = all(spread[k] <= max(excursion[k2][0], UNIQUE_TOL) for k, k2 in
               (("price", "price"), ("rho", "rho"))) and spread["provenance"] <= max(excursion["rho"][0], UNIQUE_TOL)
    residuals = {
        "best_response": float(np.abs(window["phi"][0, -1] - window["phi"][0, -2]).max() / cfg.adjust_rate),
        "rho_consistency": float(abs(window["rho"][0, -1] - window["rho"][0, -2])),
        "market_clearing": float(np.abs(window["budget_gap"][0]).max()),
        "model": float(np.abs(window["fidelity_j"][0, -1] - window["fidelity_j"][0, -2]).max()),
    }
    result = _result(cfg, econ, {k: centre[k][0] for k in ("rho", "quality", "kl", *WELFARE_KEYS)},
                     centre["received"][0], centre["phi"][0], bool(same and converged.all()), spread, converged,
                     ends, residuals)
    kl_share = standard_error["kl"] / result.kl_star if result.kl_star > 0 else 0.0
    return replace(result, time_average=TimeAverage(
        float(centre["price"][0]), result.s_star * kl_share, result.w_star * kl_share, standard_error,
        epsilon.tolist(), trend.tolist(), trend_z.tolist(), PMIR_TREND_Z, [ends[0] - PMIR_WINDOW, ends[0]]))


def _result(cfg: SDCEConfig, econ, star: dict, prices, provenance, unique: bool, spread: dict, converged,
            generations, residuals: dict) -> Equilibrium:
    """The equilibrium as `solve_equilibrium` returns it, from start 0's stationary values `star` (rho, quality,
    kl and the welfare components), its prices and provenance by type, and the checks across starts."""
    kl = float(star["kl"])
    types = {"phi_bar": np.asarray(econ.phi_bar), "nu": np.asarray(econ.nu), "weight": np.asarray(econ.weight),
             "provenance": provenance, "price": prices}
    return Equilibrium(
        regime=cfg.regime, learning_rule=cfg.learning_rule, rho_star=float(star["rho"]),
        quality_star=float(star["quality"]), kl_star=kl, s_star=float(optimal_subsidy(kl, cfg.collapse_weight)),
        w_star=float(optimal_watermark(kl, cfg.collapse_weight, cfg.levers().psi)),
        welfare={k: float(star[k]) for k in WELFARE_KEYS}, price_star=_summary(prices, types["weight"]),
        provenance_star=_summary(provenance, types["weight"]), unique=unique, starts=len(converged),
        converged=converged.tolist(), generations_to_converge=list(generations), start_spread=spread,
        residuals=residuals, types=types)


def check_equilibrium(cfg: SDCEConfig, starts: int, seed: int) -> None:
    """ConfigError unless the continuum SDCE of `cfg` can be solved from `starts` starts with `seed`."""
    if cfg.family != "gaussian":
        raise ConfigError(f"equilibrium: the continuum is in closed form for family='gaussian' only "
                          f"(got family={cfg.family!r})")
    if starts < 1:
        raise ConfigError(f"equilibrium: starts must be >= 1 (got {starts})")
    if not (isinstance(seed, int) and seed >= 0):
        raise ConfigError(f"equilibrium: seed must be an integer >= 0 (got {seed!r})")


def solve_equilibrium(cfg: SDCEConfig, starts: int = 8, seed: int = 0) -> Equilibrium:
    """The continuum SDCE from `starts` starts (start 0: the market's own generation 0). Gaussian world."""
    check_equilibrium(cfg, starts, seed)
    econ = economy(cfg, gaussian_p(cfg))
    _, first = trajectory(econ, cfg, GaussianWorld, cfg.learning_rule, 1)
    init = _starts(econ, first, jax.random.key(seed), starts)
    if cfg.regime == "pmir":
        return _pmir_equilibrium(cfg, econ, init, starts)
    state, final, out, its = _stationary(econ, init, cfg, cfg.learning_rule)
    out = jax.tree.map(np.asarray, out)
    if not np.all(np.isfinite(out["rho"])) or not np.all(np.isfinite(out["kl"])):
        raise ConfigError("equilibrium: no stationary point with a finite model (under learning_rule='wgf' the "
                          "model collapses to a point when rho >= temperature)")
    prices = out["received"]  # per unit of capacity, by type (starts, K)
    residuals = {
        "best_response": np.max(np.abs(np.asarray(final.phi) - np.asarray(state.phi)), axis=1) / cfg.adjust_rate,
        "rho_consistency": np.abs(np.asarray(out["rho"]) - np.asarray(state.rho)),
        "market_clearing": np.maximum(np.asarray(out["newton_residual"]), np.abs(out["budget_gap"])),
        "model": np.max(np.abs(np.asarray(final.fidelity) - np.asarray(state.fidelity)), axis=1),
    }
    converged = np.asarray(its) < MAX_GENERATIONS
    spread = {
        "price": float(np.max(np.abs(prices - prices[0]))),
        "provenance": float(np.max(np.abs(np.asarray(state.phi) - np.asarray(state.phi)[0]))),
        "rho": float(np.max(np.abs(out["rho"] - out["rho"][0]))),
    }
    return _result(cfg, econ, {k: out[k][0] for k in ("rho", "quality", "kl", *WELFARE_KEYS)}, prices[0],
                   np.asarray(state.phi)[0], bool(max(spread.values()) < UNIQUE_TOL and converged.all()), spread,
                   converged, np.asarray(its).tolist(), {k: float(np.max(v)) for k, v in residuals.items()})


def _summary(values, weights) -> dict:
    q = np.asarray(weighted_quantiles(jnp.asarray(values), jnp.asarray(weights), (0.1, 0.5, 0.9)), float)
    return {"mean": float(weights @ values), "p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2])}


def stationary_fidelity(rho, tau: float, rule: str, dim: int):
    """D*(rho) = KL(q*‖p) for p = N(0, I_d) at a fixed rho: the fixed point of the moment map (`mle`:
    cov* = (1 - rho)/(1 - rho tau) I) or of the flow's minimiser (`wgf`: precision* = (1 - rho)/(1 - rho/tau) I,
    no finite fixed point when rho >= tau). Closed form, the reference for `quality_curve`."""
    if rule == "mle":
        var = (1 - rho) / (1 - rho * tau)
    else:
        var = np.where(rho < tau, (1 - rho / tau) / np.maximum(1 - rho, 1e-300), 0.0)
    with np.errstate(divide="ignore"):
        return np.where(var > 0, 0.5 * dim * (var - 1 - np.log(np.where(var > 0, var, 1.0))), np.inf)


def quality_curve(cfg: SDCEConfig, rhos, generations: int = 400) -> dict:
    """Proposition 1: Q*(rho) at exogenous rho, every trainer using all content (x_H = 1 - rho, x_S = rho), each
    model at its stationary point of the mean-field chain (iterated `generations` times from p in JAX). A chain
    still moving at the end (relative change of the covariance above 1e-5) has no stationary model: D* = inf."""
    from meanfield.gaussian import gaussian_trajectory
    from sdce.dataworld.metrics import kl_gaussian

    trainers = trainer_primitives(cfg)
    z = productivity(cfg.tfp, trainers.labor, trainers.compute, cfg.alpha, cfg.beta_k)
    d = cfg.dim
    rhos = np.asarray(rhos, float)
    fidelity = []
    for rho in rhos:
        means, covs = gaussian_trajectory(jnp.zeros(d), jnp.eye(d), jnp.zeros(d), jnp.eye(d), float(rho),
                                          cfg.temperature, generations, cfg.learning_rule, cfg.train_time)
        mean, cov = np.asarray(means[-1], float), np.asarray(covs[-1], float)
        moved = np.max(np.abs(cov - np.asarray(covs[-2], float))) / np.max(np.abs(cov))
        ok = np.all(np.isfinite(cov)) and np.linalg.eigvalsh(cov).min() > 1e-12 and moved < 1e-5
        fidelity.append(float(kl_gaussian(mean, cov, np.zeros(d), np.eye(d))) if ok else math.inf)
    fidelity = np.array(fidelity)
    gamma, delta = elasticities(rhos, cfg.gamma0, cfg.gamma1, cfg.delta0)
    q = quality(z[:, None], 1 - rhos, rhos, gamma, delta, collapse_factor(fidelity, cfg.kappa_q)).mean(0)
    dq = np.diff(q)
    return {"rho": rhos.tolist(), "quality": q.tolist(), "fidelity": fidelity.tolist(),
            "non_increasing": bool(np.all(dq <= 1e-12)),
            "increasing_on": [float(r) for r, step in zip(rhos[1:], dq) if step > 1e-12],
            "delta_below_gamma": bool(np.all(delta < gamma))}


def closed_form_policy_levels(cfg: SDCEConfig, starts: int = 1) -> dict:
    """s* (eq. 10) and w* (eq. 12) at the SDCE of `cfg` without a policy, from the market's own start (PMIR: its
    epsilon-SDCE); ConfigError if there is none, EquilibriumNotConverged if the solve did not settle."""
    base = cfg.replace(policy="none", subsidy=0.0, watermark=0.0, royalty_cap=float("inf"), transfer=0.0)
    try:
        result = solve_equilibrium(base, starts=starts)
    except ConfigError as exc:
        raise ConfigError(f"'optimal' needs the SDCE of this configuration without a policy, and there is none: "
                          f"{exc}") from None
    if not result.all_converged:
        raise EquilibriumNotConverged(f"'optimal' needs the SDCE of this configuration without a policy, but the "
                                      f"continuum market did not settle: {not_converged_detail(result)}")
    return {"s_star": result.s_star, "w_star": result.w_star, "rho_star": result.rho_star, "kl_star": result.kl_star}


def with_policy(cfg: SDCEConfig, **changes: float | str | None) -> SDCEConfig:
    """`cfg` with the policy fields in `changes` (policy, subsidy, watermark, royalty_cap, transfer; None: keep);
    a subsidy or watermark of 'optimal' is s* (eq. 10) or w* (eq. 12) at the SDCE of the configuration without a
    policy (`closed_form_policy_levels`), e.g. `sdce run --subsidy optimal` and Table V's subsidy."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if "optimal" in changes.values():
        optimum = closed_form_policy_levels(cfg.replace(**{k: v for k, v in changes.items() if v != "optimal"}))
        changes = {k: (optimum["s_star" if k == "subsidy" else "w_star"] if v == "optimal" else v)
                   for k, v in changes.items()}
    return cfg.replace(**changes) if changes else cfg


def not_converged_detail(result: Equilibrium) -> str:
    """Why a solve did not settle, with the numbers."""
    if result.time_average is not None:
        return ("the trend over the averaging window is "
                + ", ".join(f"{z:.2f}" for z in result.time_average.trend_z)
                + f" standard errors by start, against a tolerance of {PMIR_TREND_Z} after "
                + ", ".join(map(str, result.generations_to_converge)) + " generations")
    moving = [i for i, c in enumerate(result.converged) if not c]
    return f"start(s) {moving} still moved by more than {STATIONARY_TOL} after {MAX_GENERATIONS} generations"
