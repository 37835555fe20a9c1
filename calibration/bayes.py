"""Bayesian calibration (docs/model.md §12, "Posterior"): the posterior of the calibrated parameters given the target
moments, sampled by numpyro's NUTS, with ArviZ's diagnostics, and the posterior predictive of every target moment
and of the paper's orderings.

Priors over the admissible ranges (`calibration.parameters`): Uniform(lo, hi) on a two-sided range (temperature on
(0, 1)); on a half-line (lo, ∞), lo + LogNormal(log(x0 − lo), PRIOR_LOG_SD) with x0 the configuration's value, so
the prior median is the configuration and a factor e either way is one prior sd. Likelihood: the targets are
independent Normal(m_k(theta), se_k), m the continuum's moments (`calibration.moment_map`).

NUTS differentiates the log density in reverse mode. The moments carry a custom VJP whose backward pass is the
forward-mode Jacobian of the moments (P tangents, P the number of parameters, computed with the moments in one
pass): with a few parameters and tens of moments this is cheaper than reverse mode through the continuum's
generations and solves. PMIR's moments have no usable derivative and stay out of the likelihood (as in the SMM fit);
their posterior predictive comes from the forward runs of the orderings.

Starts: by default ('smm') every chain starts near the SMM fit (`calibration.smm`, one start), jittered by
INIT_JITTER in the unconstrained coordinates. Started over the prior's range instead ('prior'), chains far from a
sharp mode crawl: on the paper's targets (J ≈ 2×10⁴ at the best fit) the potential energy at the starts was ~10⁵, the
adapted step size fell to 10⁻⁷ and the trees grew to 511 leapfrog steps within the first 12 steps.

Chains run vectorised (`vmap` over chains) one NUTS step at a time, so a progress bar counts steps, and every
CHECKPOINT_EVERY steps the sampler's state and the draws so far are written atomically to `checkpoint.npz`; a rerun of
the same command resumes from it. The checkpoint's members carry zip CRCs: a damaged file is refused, not read.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from matplotlib.figure import Figure
from numpyro.infer import NUTS

from calibration.moment_map import MomentMap, check_diagnostics, differentiable
from calibration.orderings import ForwardRuns, ordering_probabilities
from calibration.parameters import parameter_bounds, to_unconstrained
from calibration.smm import smm_fit
from calibration.targets import Target
from meanfield.market import TYPE_NODES
from sdce.atomic import atomic_write, save_figure_atomic, write_text_atomic
from sdce.config import SDCEConfig
from sdce.errors import ConfigError
from sdce.figures import figure_legend
from sdce.strict_json import dumps

with warnings.catch_warnings():  # ArviZ 0.23 announces its 1.0 refactor once a day on import
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    import arviz as az

PRIOR_LOG_SD = 1.0
TARGET_ACCEPT = 0.8
CHECKPOINT_EVERY = 25
HDI_PROB = 0.9
ORDERING_DRAWS = 32
INITS = ("smm", "prior")
INIT_JITTER = 0.1


def check_bayes(targets: Sequence[Target], params: Sequence[str], chains: int, draws: int, warmup: int,
                ordering_draws: int, init: str = "smm") -> tuple[list[Target], list[Target]]:
    """(in the likelihood, held out) targets; ConfigError before any work for a bad count, an unknown `init` or
    nothing to fit."""
    if init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)} (got {init!r})")
    for name, value, least in (("chains", chains, 1), ("draws", draws, 1), ("warmup", warmup, 1),
                               ("ordering_draws", ordering_draws, 0)):
        if value < least:
            raise ConfigError(f"{name} must be >= {least} (got {value})")
    if ordering_draws > chains * draws:
        raise ConfigError(f"ordering_draws = {ordering_draws} exceeds the {chains * draws} posterior draws")
    fitted = [t for t in targets if differentiable(t.moment)]
    if not fitted:
        raise ConfigError("no target can enter the likelihood: PMIR's moments have no usable derivative; add "
                          "moments of another regime")
    return fitted, [t for t in targets if not differentiable(t.moment)]


def prior(cfg: SDCEConfig, name: str) -> dist.Distribution:
    """The prior of `name` over its admissible range (module docstring)."""
    lo, hi = parameter_bounds(name)
    if math.isfinite(hi):
        return dist.Uniform(lo, hi)
    centre = float(getattr(cfg, name)) - lo
    if not centre > 0:
        raise ConfigError(f"{name} = {getattr(cfg, name)}: the prior's median must lie inside ({lo}, inf)")
    base = dist.LogNormal(math.log(centre), PRIOR_LOG_SD)
    return base if lo == 0 else dist.TransformedDistribution(base, dist.transforms.AffineTransform(lo, 1.0))


def describe_prior(cfg: SDCEConfig, name: str) -> str:
    """The prior of `name` in words, as the report and the JSON state it."""
    lo, hi = parameter_bounds(name)
    if math.isfinite(hi):
        return f"Uniform({lo:g}, {hi:g})"
    shift = f"{lo:g} + " if lo else ""
    return f"{shift}LogNormal(log {float(getattr(cfg, name)) - lo:g}, {PRIOR_LOG_SD:g})"


def forward_jacobian_moments(moment_map: MomentMap) -> Callable:
    """theta -> (moments, worst Newton residual, finite as 1.0/0.0) with a custom VJP: the backward pass contracts
    the cotangent of the moments with their forward-mode Jacobian (module docstring)."""

    def evaluate(theta):
        moments, diagnostics = moment_map._evaluate(theta)
        return moments, (moments, diagnostics["newton_residual"], diagnostics["finite"].astype(jnp.float32))

    @jax.custom_vjp
    def moments(theta):
        return evaluate(theta)[1]

    def forward(theta):
        jacobian, outputs = jax.jacfwd(evaluate, has_aux=True)(theta)
        return outputs, jacobian

    def backward(jacobian, cotangents):
        return (cotangents[0] @ jacobian,)

    moments.defvjp(forward, backward)
    return moments


def posterior_model(cfg: SDCEConfig, names: Sequence[str], moments: Callable) -> Callable:
    """The numpyro model: theta from the priors, the targets Normal(m(theta), se), the moments and the solves'
    diagnostics recorded as deterministic sites."""
    priors = {name: prior(cfg, name) for name in names}

    def model(values, se):
        theta = jnp.stack([numpyro.sample(name, priors[name]) for name in names])
        m, residual, finite = moments(theta)
        numpyro.deterministic("model_moments", m)
        numpyro.deterministic("newton_residual", residual)
        numpyro.deterministic("finite", finite)
        numpyro.sample("obs", dist.Normal(m, se), obs=values)

    return model


@dataclass
class Posterior:
    """The sampler's output: draws by site (chains, draws, ...), the divergence flags and the NUTS statistics
    (chains, draws), the targets in and out of the likelihood."""

    names: tuple[str, ...]
    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    fitted: list[Target]
    held: list[Target]


class _Checkpoint:
    """The sampler's state and the draws so far in `path` (npz, atomic); `load` refuses a damaged file."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self, template) -> tuple[object, int, dict] | None:
        if not self.path.exists():
            return None
        try:
            with np.load(self.path) as data:
                stored = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ConfigError(f"{self.path} is damaged ({exc}); delete it, or rerun with --force to start over") \
                from None
        leaves, treedef = jax.tree_util.tree_flatten(template)
        if sum(k.startswith("state_") for k in stored) != len(leaves):
            raise ConfigError(f"{self.path} does not hold this sampler's state; rerun with --force to start over")
        state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(stored[f"state_{k}"], dtype=leaf.dtype)
                                                       for k, leaf in enumerate(leaves)])
        kept = {k[len("kept_"):]: v for k, v in stored.items() if k.startswith("kept_")}
        return state, int(stored["steps"]), kept

    def save(self, state, steps: int, kept: dict[str, list]) -> None:
        arrays = {f"state_{k}": np.asarray(leaf) for k, leaf in enumerate(jax.tree_util.tree_leaves(state))}
        arrays |= {f"kept_{k}": np.stack(v, axis=1) for k, v in kept.items() if v}
        atomic_write(self.path, lambda tmp: _savez(tmp, steps, arrays))


def _savez(tmp: Path, steps: int, arrays: dict) -> None:
    with open(tmp, "wb") as handle:
        np.savez(handle, steps=np.asarray(steps), **arrays)


def initial_positions(cfg: SDCEConfig, fitted: Sequence[Target], names: Sequence[str], chains: int, seed: int,
                      init: str, type_nodes: int) -> dict | None:
    """The chains' starts in numpyro's unconstrained coordinates (those of `calibration.parameters`: logit on
    (lo, hi), log(x − lo) on a half-line): None for 'prior' (numpyro's `init_to_uniform`: uniform in (−2, 2),
    redrawn where the density is not finite); for 'smm', the SMM fit from the configuration's values (one start) plus
    INIT_JITTER × N(0, 1) per chain and parameter."""
    if init == "prior":
        return None
    fit = smm_fit(cfg, fitted, names, starts=1, type_nodes=type_nodes)
    u = to_unconstrained([fit.params[n] for n in names], names)
    jitter = INIT_JITTER * np.random.default_rng(seed).standard_normal((chains, len(names)))
    return {name: jnp.asarray(u[k] + jitter[:, k], jnp.float32) for k, name in enumerate(names)}


def sample_posterior(cfg: SDCEConfig, targets: Sequence[Target], names: Sequence[str], chains: int = 4,
                     draws: int = 1000, warmup: int = 500, seed: int = 0, folder: Path | None = None,
                     type_nodes: int = TYPE_NODES, on_step: Callable[[int, int], None] | None = None,
                     init: str = "smm") -> Posterior:
    """NUTS over `names` given `targets` (module docstring): `chains` vectorised chains started by `init`
    (`initial_positions`), `warmup` adaptation steps (step size and a diagonal mass matrix), then `draws` kept
    steps. `folder`: where `checkpoint.npz` is kept and resumed from. `on_step(done, total)` after every step.
    Raises if a kept draw's solve did not converge."""
    fitted, held = check_bayes(targets, names, chains, draws, warmup, 0, init)
    names = tuple(names)
    moment_map = MomentMap(cfg, [t.moment for t in fitted], names, type_nodes)
    values = jnp.asarray([t.value for t in fitted], jnp.float32)
    se = jnp.asarray([t.se for t in fitted], jnp.float32)
    kernel = NUTS(posterior_model(cfg, names, forward_jacobian_moments(moment_map)), target_accept_prob=TARGET_ACCEPT)
    state = kernel.init(jax.random.split(jax.random.PRNGKey(seed), chains), warmup, model_args=(values, se),
                        init_params=initial_positions(cfg, fitted, names, chains, seed, init, type_nodes))
    checkpoint = _Checkpoint(folder / "checkpoint.npz") if folder is not None else None
    kept = {"z": [], "diverging": [], "num_steps": [], "potential_energy": []}
    done = 0
    if checkpoint is not None and (found := checkpoint.load(state)) is not None:
        state, done, stored = found
        kept = {k: list(np.moveaxis(stored[k], 1, 0)) if k in stored else [] for k in kept}
    step = jax.jit(lambda s: kernel.sample(s, (values, se), {}))
    total = warmup + draws
    while done < total:
        state = step(state)
        done += 1
        if done > warmup:
            kept["z"].append(np.asarray(_flat_z(state.z, names)))
            for key in ("diverging", "num_steps", "potential_energy"):
                kept[key].append(np.asarray(getattr(state, key)))
        if checkpoint is not None and (done % CHECKPOINT_EVERY == 0 or done == total):
            checkpoint.save(state, done, kept)
        if on_step is not None:
            on_step(done, total)
    return _posterior(kernel, names, values, se, kept, fitted, held)


def _flat_z(z: dict, names: Sequence[str]) -> jax.Array:
    """The unconstrained position (chains, P) in the order of `names`."""
    return jnp.stack([z[name] for name in names], axis=-1)


def _posterior(kernel: NUTS, names, values, se, kept: dict, fitted, held) -> Posterior:
    """Constrained draws and the deterministic sites from the kept unconstrained positions; raises if a solve did not
    converge at a kept draw."""
    z = np.stack(kept["z"], axis=1)  # (chains, draws, P)
    constrain = jax.jit(jax.vmap(kernel.postprocess_fn((values, se), {})))
    flat = {name: jnp.asarray(z[..., k].reshape(-1)) for k, name in enumerate(names)}
    sites = {k: np.asarray(v, float).reshape(z.shape[:2] + np.shape(v)[1:]) for k, v in constrain(flat).items()}
    worst = np.unravel_index(np.argmax(sites["newton_residual"]), z.shape[:2])
    bad = np.argwhere(sites["finite"] < 1)
    at = bad[0] if len(bad) else worst
    check_diagnostics({"newton_residual": sites["newton_residual"][tuple(at)],
                       "finite": bool(sites["finite"][tuple(at)] >= 1)},
                      {name: float(sites[name][tuple(at)]) for name in names})
    stats = {key: np.stack(kept[key], axis=1) for key in ("diverging", "num_steps", "potential_energy")}
    return Posterior(tuple(names), {k: v for k, v in sites.items() if k in (*names, "model_moments")}, stats,
                     list(fitted), list(held))


def inference_data(posterior: Posterior, seed: int) -> az.InferenceData:
    """ArviZ `InferenceData`: the posterior (the parameters and the model moments by target), the posterior
    predictive of the targets y_rep = m(theta) + se ε (ε ~ N(0, 1), drawn from `seed`), the observed targets and
    the NUTS statistics (diverging, n_steps, lp = −potential energy)."""
    moments = posterior.draws["model_moments"]
    se = np.array([t.se for t in posterior.fitted])
    noise = np.random.default_rng(seed).standard_normal(moments.shape)
    coords = {"moment": [t.moment for t in posterior.fitted]}
    dims = {"model_moments": ["moment"], "targets": ["moment"]}
    return az.from_dict(
        posterior={**{n: posterior.draws[n] for n in posterior.names}, "model_moments": moments},
        posterior_predictive={"targets": moments + se * noise},
        observed_data={"targets": np.array([t.value for t in posterior.fitted])},
        sample_stats={"diverging": posterior.stats["diverging"].astype(bool),
                      "n_steps": posterior.stats["num_steps"], "lp": -posterior.stats["potential_energy"]},
        coords=coords, dims=dims)


def save_inference_data(idata: az.InferenceData, path: Path) -> None:
    """`idata` as netCDF (h5netcdf), atomically."""
    atomic_write(path, lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"))


def parameter_summary(idata: az.InferenceData, names: Sequence[str]) -> dict[str, dict]:
    """By parameter: posterior mean, sd, the 90% highest-density interval, R-hat (rank-normalised, split), bulk and
    tail ESS (ArviZ)."""
    table = az.summary(idata, var_names=list(names), hdi_prob=HDI_PROB, round_to="none")
    low, high = f"hdi_{(1 - HDI_PROB) / 2:.0%}", f"hdi_{(1 + HDI_PROB) / 2:.0%}"
    return {name: {"mean": float(row["mean"]), "sd": float(row["sd"]), "hdi_5": float(row[low]),
                   "hdi_95": float(row[high]), "r_hat": float(row["r_hat"]), "ess_bulk": float(row["ess_bulk"]),
                   "ess_tail": float(row["ess_tail"])} for name, row in table.iterrows()}


def predictive_rows(targets: Sequence[Target], replicated: np.ndarray, in_fit: bool) -> list[dict]:
    """Per target: the posterior predictive mean and 90% interval of y_rep (draws, n), its z = (mean − target) / se
    and the predictive p-value P(y_rep >= target)."""
    low, high = np.quantile(replicated, [(1 - HDI_PROB) / 2, (1 + HDI_PROB) / 2], axis=0)
    mean = replicated.mean(0)
    return [{"moment": t.moment, "target": t.value, "se": t.se, "mean": float(mean[k]), "q5": float(low[k]),
             "q95": float(high[k]), "z": float((mean[k] - t.value) / t.se),
             "p_value": float(np.mean(replicated[:, k] >= t.value)), "in_fit": in_fit}
            for k, t in enumerate(targets)]


def thinned(posterior: Posterior, count: int) -> np.ndarray:
    """`count` posterior draws (count, P), evenly spaced over the pooled chains."""
    pooled = np.stack([posterior.draws[n].reshape(-1) for n in posterior.names], axis=1)
    return pooled[np.linspace(0, len(pooled) - 1, count).round().astype(int)]


def plot_diagnostics(idata: az.InferenceData, names: Sequence[str], folder: Path) -> list[Path]:
    """ArviZ's trace plot (trace.png) and, with two or more parameters, its pair plot with divergences marked
    (pair.png)."""
    with warnings.catch_warnings():  # ArviZ 0.23 calls a helper Matplotlib 3.11 deprecates
        warnings.filterwarnings("ignore", message="Passing a dict or None as alias_mapping")
        return _plot_diagnostics(idata, list(names), folder)


def _plot_diagnostics(idata: az.InferenceData, names: list[str], folder: Path) -> list[Path]:
    fig = Figure(figsize=(10, 2.2 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    az.plot_trace(idata, var_names=names, axes=axes, compact=False)
    fig.suptitle("NUTS traces by chain: marginal posterior (left), draws (right)")
    save_figure_atomic(fig, folder / "trace.png", 110)
    paths = [folder / "trace.png"]
    if len(names) >= 2:
        k = len(names) - 1
        fig = Figure(figsize=(max(5.5, 2.8 * k + 1), max(5.0, 2.8 * k + 0.6)), layout="constrained")
        axes = fig.subplots(k, k, squeeze=False)
        az.plot_pair(idata, var_names=names, ax=axes, divergences=True, kind="scatter", textsize=10,
                     scatter_kwargs={"alpha": 0.5, "s": 16})
        fig.suptitle("posterior draws by pair of parameters\n(divergent transitions marked)", fontsize=11)
        save_figure_atomic(fig, folder / "pair.png", 110)
        paths.append(folder / "pair.png")
    return paths


def plot_predictive(rows: Sequence[dict], title: str, path: Path) -> None:
    """Each target's posterior predictive 90% interval and mean in units of its se, centred on the target (0), with
    the |z| <= 2 band; held-out moments hollow (docs/figures.md)."""
    fig = Figure(figsize=(8, 0.3 * len(rows) + 2.0), layout="constrained")
    ax = fig.subplots()
    ax.axvspan(-2, 2, color="0.9", label=r"$|z| \leq 2$")
    ax.axvline(0, color="0.4", lw=0.8, label="target")
    for in_fit, face, color, label in ((True, "C0", "C0", "in the likelihood"),
                                       (False, "none", "C1", "held out (PMIR)")):
        chosen = [(k, r) for k, r in enumerate(rows) if r["in_fit"] is in_fit]
        if not chosen:
            continue
        ks = [k for k, _ in chosen]
        z = [(r["mean"] - r["target"]) / r["se"] for _, r in chosen]
        low = [(r["mean"] - r["q5"]) / r["se"] for _, r in chosen]
        high = [(r["q95"] - r["mean"]) / r["se"] for _, r in chosen]
        ax.errorbar(z, ks, xerr=[low, high], fmt="o", mfc=face, color=color, ms=4, elinewidth=0.9,
                    label=f"predictive mean and 90% interval, {label}")
    ax.set_yticks(range(len(rows)), [r["moment"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    reach = max(4.0, *(1.2 * max(abs(r["q5"] - r["target"]), abs(r["q95"] - r["target"])) / r["se"] for r in rows))
    if reach > 10:
        ax.set_xscale("symlog", linthresh=2)
    ax.set_xlim(-reach, reach)
    ax.set(title=title, xlabel=r"$(y_{\mathrm{rep}} - \mathrm{target})\,/\,\mathrm{se}$", ylabel="moment")
    figure_legend(fig, ncols=2)
    save_figure_atomic(fig, path, 110)


def bayes_calibration(cfg: SDCEConfig, targets: Sequence[Target], names: Sequence[str], folder: Path, chains: int = 4,
                      draws: int = 1000, warmup: int = 500, seed: int = 0, ordering_draws: int = ORDERING_DRAWS,
                      subsidy: float | None = None, type_nodes: int = TYPE_NODES,
                      on_step: Callable[[int, int], None] | None = None,
                      on_draw: Callable[[], None] | None = None, init: str = "smm") -> dict:
    """The whole Bayesian calibration into `folder`: posterior.nc (ArviZ), summary.csv, predictive.csv, trace.png,
    pair.png, predictive.png and bayes.json, whose object is returned: `params` (name -> mean, sd, hdi_5, hdi_95,
    r_hat, ess_bulk, ess_tail), `divergences`, `orderings` (claim -> posterior probability; empty when
    `ordering_draws` is 0), `priors`, `predictive` (one row per target), `levels` (Table V's), `draws`, `path`."""
    names = tuple(names)
    check_bayes(targets, names, chains, draws, warmup, ordering_draws, init)
    posterior = sample_posterior(cfg, targets, names, chains, draws, warmup, seed, folder, type_nodes, on_step, init)
    idata = inference_data(posterior, seed)
    save_inference_data(idata, folder / "posterior.nc")
    params = parameter_summary(idata, names)
    replicated = idata.posterior_predictive["targets"].values.reshape(chains * draws, -1)
    rows = predictive_rows(posterior.fitted, replicated, True)
    orderings, levels = {}, {}
    if ordering_draws:
        forward = ForwardRuns(cfg, names, np.array([params[n]["mean"] for n in names]), subsidy, posterior.held,
                              type_nodes)
        orderings, held = ordering_probabilities(forward, thinned(posterior, ordering_draws), on_draw)
        levels = forward.levels
        if posterior.held:
            se = np.array([t.se for t in posterior.held])
            noise = np.random.default_rng(seed + 1).standard_normal(held.shape)
            rows += predictive_rows(posterior.held, held + se * noise, False)
    write_text_atomic(folder / "summary.csv", pd.DataFrame([{"param": n, **params[n]} for n in names])
                      .to_csv(index=False))
    write_text_atomic(folder / "predictive.csv", pd.DataFrame(rows).to_csv(index=False))
    figures = plot_diagnostics(idata, names, folder)
    plot_predictive(rows, f"posterior predictive of the targets ({chains} chains x {draws} draws)",
                    folder / "predictive.png")
    summary = {"params": params, "divergences": int(posterior.stats["diverging"].sum()), "orderings": orderings,
               "priors": {n: describe_prior(cfg, n) for n in names}, "predictive": rows, "levels": levels,
               "draws": {"chains": chains, "draws": draws, "warmup": warmup, "ordering_draws": ordering_draws,
                         "init": init},
               "figures": [str(p) for p in [*figures, folder / "predictive.png"]], "path": str(folder)}
    write_text_atomic(folder / "bayes.json", dumps(summary, indent=2))
    return summary
