"""The target moments as a differentiable function of the calibrated parameters (docs/model.md §12): the continuum's
trajectories (`meanfield.market.trajectory`) with `Parameters` traced, in JAX, so that `jax.grad` and `jax.jacfwd`
reach the moments through the statutory Newton solve and the intermediary's bisection by implicit differentiation
(`jax.lax.custom_root`).

The moments are those of `calibration.targets` (the same runs, the same definitions through `evaluate_moment`),
computed in float32 on the Gaussian world. `w2_T` is the mixture W2 of q̄_T to p, in closed form when p is one
Gaussian: MW2² = Σ_k a_k W2(N_k, p)². PMIR's moments have no usable derivative (its learners' optimiser steps,
unrolled over generations and rounds, give reverse-mode gradients five orders of magnitude off central finite
differences), so `MomentMap` refuses them and the fits report them at the fitted parameters instead.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from calibration.targets import max_generation, moment_run, needed_baseline, parse_moment, run_config
from calibration.targets import evaluate_moment
from meanfield.market import TYPE_NODES, economy, gaussian_p, trajectory
from meanfield.worlds import GaussianWorld
from sdce.config import SDCEConfig
from sdce.dataworld.metrics import w2_squared_bures
from sdce.errors import ConfigError, DemandNotConverged, MeanFieldDiverged
from sdce.regimes.statutory import NEWTON_TOL

NOT_DIFFERENTIABLE = ("pmir",)


def differentiable(name: str) -> bool:
    """Whether a moment has a derivative the fits can use (not a PMIR moment)."""
    return parse_moment(name).regime not in NOT_DIFFERENTIABLE


def gaussian_w2(weights, means, covs, p_mean, p_cov):
    """MW2 of the mixture Σ_k a_k N(m_k, C_k) to the Gaussian N(m, C) (docs/model.md §9): Σ_k a_k W2(N_k, N)²,
    square-rooted, each W2² by `w2_squared_bures` (differentiable)."""
    squared = w2_squared_bures(means, covs, p_mean, p_cov)
    return jnp.sqrt(jnp.maximum(weights @ squared, 0.0))


def run_series(econ, cfg: SDCEConfig, values: dict) -> tuple[dict, dict]:
    """One continuum run at the `Parameters` `values` (traced): its series by generation (rho, quality, W, w2, price,
    and payment, the mean payment per producer, h̄ Σ_k w_k received_k) and its diagnostics (the worst Newton
    residual, whether every series is finite). JAX, not jitted."""
    out, _ = trajectory(econ.with_params(**values), cfg, GaussianWorld, cfg.learning_rule, cfg.generations)
    weights, means, covs = out["public"]
    _, p_means, p_covs = econ.p
    w2 = jax.vmap(gaussian_w2, in_axes=(0, 0, 0, None, None))(weights, means, covs, p_means[0], p_covs[0])
    series = {"rho": out["rho"], "quality": out["quality"], "W": out["W"], "w2": w2, "price": out["price"],
              "payment": cfg.capacity * out["received"] @ econ.weight}
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in series.values()]))
    return series, {"newton_residual": jnp.max(out["newton_residual"]), "finite": finite}


class MomentMap:
    """moments(theta) for the moments `names` at `cfg`, `theta` the values of `params` (P,): `__call__` gives the
    moments (n,) and the diagnostics (the worst Newton residual, whether every series is finite), jitted;
    `checked` evaluates and raises if a solve did not converge."""

    def __init__(self, cfg: SDCEConfig, names: Sequence[str], params: Sequence[str], type_nodes: int = TYPE_NODES):
        if cfg.family != "gaussian":
            raise ConfigError(f"structural calibration runs the continuum's Gaussian world: family must be 'gaussian' "
                              f"(got {cfg.family!r})")
        moments = [parse_moment(name) for name in names]
        held = [name for name in names if not differentiable(name)]
        if held:
            raise ConfigError(f"moment(s) {', '.join(held)}: PMIR's learning rounds have no usable derivative, so "
                              f"they cannot be fitted (they are reported at the fit)")
        if any(m.kind == "w2_T" for m in moments) and cfg.human_dist != "gaussian":
            raise ConfigError("w2_T in a fit needs human_dist='gaussian' (the mixture W2 to a Gaussian p is in "
                              f"closed form); got human_dist={cfg.human_dist!r}")
        self.names, self.params = tuple(names), tuple(params)
        runs = sorted({moment_run(m) for m in moments} | needed_baseline(moments), key=str)
        self._runs = {run: run_config(cfg, run, max_generation(moments, run)) for run in runs}
        self._economies = {run: economy(c, gaussian_p(c), type_nodes) for run, c in self._runs.items()}
        self._moments = moments
        self._call = jax.jit(self._evaluate)

    def _evaluate(self, theta):
        values = dict(zip(self.params, theta))
        series, residual, finite = {}, [], []
        for run, cfg in self._runs.items():
            series[run], diagnostics = run_series(self._economies[run], cfg, values)
            residual.append(diagnostics["newton_residual"])
            finite.append(diagnostics["finite"])
        moments = jnp.stack([evaluate_moment(m, lambda run, key, t=-1: series[run][key][t]) for m in self._moments])
        return moments, {"newton_residual": jnp.max(jnp.stack(residual)), "finite": jnp.all(jnp.stack(finite))}

    def __call__(self, theta):
        return self._call(jnp.asarray(theta, jnp.float32))

    def checked(self, theta) -> np.ndarray:
        """The moments at `theta` as NumPy; DemandNotConverged or MeanFieldDiverged if a solve failed there."""
        moments, diagnostics = self(theta)
        check_diagnostics(diagnostics, dict(zip(self.params, np.asarray(theta, float))))
        return np.asarray(moments, float)


def check_diagnostics(diagnostics: dict, at: dict) -> None:
    """Raise if the continuum's solves failed at the parameters `at`."""
    where = ", ".join(f"{k} = {v:.4g}" for k, v in at.items())
    if float(diagnostics["newton_residual"]) > 10 * NEWTON_TOL:
        raise DemandNotConverged(f"continuum bundle demand did not converge at {where} (residual "
                                 f"{float(diagnostics['newton_residual']):.2e})")
    if not bool(diagnostics["finite"]):
        raise MeanFieldDiverged(f"the continuum is not finite at {where} (under learning_rule='wgf' a model collapses "
                                f"to a point when rho >= temperature)")
