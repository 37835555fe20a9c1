"""Structural calibration by the simulated method of moments (docs/model.md §12, "SMM"): the parameters minimising
the weighted distance J(theta) = Σ_m ((m(theta) - target_m) / se_m)² between the continuum's moments and the
targets, with the sandwich standard errors.

The optimiser is MINPACK's Levenberg–Marquardt (`scipy.optimize.least_squares`, method "lm") on the residuals
r(u) = (m(theta(u)) − target) / se, J = |r|², in the unconstrained coordinates u of `calibration.parameters`, with
the Jacobian ∂r/∂u by forward mode through the continuum (`calibration.moment_map`): one jitted function gives r and
its Jacobian. (optax's L-BFGS on ½ J, tried first, ran 150 iterations per start at 1.3 s each without meeting a
gradient rule in float32, and optimistix's Levenberg–Marquardt compiles for 150 s on the 2-core CPU against 30 s
for the Jacobian alone: the problem is least squares, and Gauss–Newton steps with a Jacobian compiled once use its
structure.) Start 0 is the configuration's values; starts 1..K−1 draw u ~ N(u_0, I). Convergence rule (MINPACK's):
the relative reduction of J, actual and predicted, below FTOL, or the relative step below XTOL, within
MAX_EVALUATIONS evaluations. The fit is the converged start with the least J; `converged` is False (with the fit of
the best finite start) when none did.

Standard errors: with G = ∂m/∂theta at the fit (forward mode), W = diag(se⁻²) and Omega = diag(se²) the targets'
covariance, Var(theta) = (G'WG)⁻¹ G'W Omega W G (G'WG)⁻¹. A parameter the moments do not identify (G'WG singular
to float64 precision) gets se = inf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import least_squares

from calibration.moment_map import MomentMap, check_diagnostics, differentiable
from calibration.parameters import config_values, parameter_bounds, to_natural, to_unconstrained
from calibration.targets import Target, model_moments
from meanfield.market import TYPE_NODES
from sdce.atomic import save_figure_atomic
from sdce.config import SDCEConfig
from sdce.errors import ConfigError
from sdce.figures import figure_legend

FTOL = XTOL = 1e-5  # float32 moments: round-off in J is ~1e-7 relative
MAX_EVALUATIONS = 200
NOT_FINITE = 1e6  # a residual the continuum could not compute (it diverged there): far from any target
IDENTIFIED_CONDITION = 1e12  # G'WG with a larger condition number does not identify every parameter


@dataclass
class SMMFit:
    """The fit: parameters and s.e. by name, J at the fit, whether a start converged, every moment at the fit
    (fitted ones and the held-out PMIR ones), J, steps and convergence by start."""

    params: dict[str, float]
    se: dict[str, float]
    loss: float
    converged: bool
    moments: list[dict]
    starts: list[float]
    iterations: list[int] = field(default_factory=list)
    start_converged: list[bool] = field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"params": self.params, "se": self.se, "loss": self.loss, "converged": self.converged,
                "moments": self.moments, "starts": self.starts, "iterations": self.iterations,
                "start_converged": self.start_converged}


def check_smm(targets: Sequence[Target], params: Sequence[str], starts: int) -> tuple[list[Target], list[Target]]:
    """(fitted, held out) targets; ConfigError before any work if nothing can be fitted or `starts` < 1."""
    if starts < 1:
        raise ConfigError(f"starts must be >= 1 (got {starts})")
    fitted = [t for t in targets if differentiable(t.moment)]
    held = [t for t in targets if not differentiable(t.moment)]
    if not fitted:
        raise ConfigError("no target can be fitted: PMIR's moments have no usable derivative; add moments of "
                          "another regime")
    if len(fitted) < len(params):
        raise ConfigError(f"{len(fitted)} fitted moment(s) cannot identify {len(params)} parameters")
    return fitted, held


def sandwich_se(jacobian: np.ndarray, se: np.ndarray) -> np.ndarray:
    """sqrt diag of (G'WG)⁻¹ G'W Omega W G (G'WG)⁻¹ with W = diag(se⁻²), Omega = diag(se²); inf if G'WG is
    singular."""
    g = np.asarray(jacobian, float)
    w = np.diag(se ** -2.0)
    bread = g.T @ w @ g
    if not np.all(np.isfinite(bread)) or np.linalg.cond(bread) > IDENTIFIED_CONDITION:
        return np.full(g.shape[1], np.inf)
    inverse = np.linalg.inv(bread)
    covariance = inverse @ g.T @ w @ np.diag(se ** 2) @ w @ g @ inverse
    return np.sqrt(np.diag(covariance))


class _Residuals:
    """r(u) and ∂r/∂u from one jitted forward-mode pass (`calibration.moment_map`), cached at the last u (MINPACK
    asks for r and its Jacobian separately at the same point), with the continuum's diagnostics."""

    def __init__(self, moment_map: MomentMap, names: Sequence[str], values: np.ndarray, se: np.ndarray,
                 on_evaluation: Callable[[], None] | None):
        target, scale = jnp.asarray(values, jnp.float32), jnp.asarray(se, jnp.float32)

        def residuals(u):
            moments, diagnostics = moment_map._evaluate(to_natural(u, names))
            r = (moments - target) / scale
            return r, (r, diagnostics)

        self._both = jax.jit(jax.jacfwd(residuals, has_aux=True))
        self._on_evaluation = on_evaluation
        self._at, self._value = None, None

    def _evaluate(self, u: np.ndarray):
        if self._at is None or not np.array_equal(u, self._at):
            jacobian, (r, diagnostics) = self._both(jnp.asarray(u, jnp.float32))
            self._at, self._value = np.array(u), (np.asarray(r, float), np.asarray(jacobian, float), diagnostics)
            if self._on_evaluation is not None:
                self._on_evaluation()
        return self._value

    def residuals(self, u):
        r = self._evaluate(u)[0]
        return r if np.all(np.isfinite(r)) else np.full_like(r, NOT_FINITE)

    def jacobian(self, u):
        return np.nan_to_num(self._evaluate(u)[1], nan=0.0, posinf=0.0, neginf=0.0)

    def diagnostics(self, u):
        return self._evaluate(u)[2]


def _minimise(residuals: _Residuals, u0: np.ndarray) -> tuple[np.ndarray, float, int, bool]:
    """Levenberg–Marquardt from u0: (u, J, evaluations, converged)."""
    result = least_squares(residuals.residuals, u0, jac=residuals.jacobian, method="lm", ftol=FTOL, xtol=XTOL,
                           max_nfev=MAX_EVALUATIONS)
    loss = float(np.sum(residuals.residuals(result.x) ** 2))
    return result.x, loss, int(result.nfev), bool(result.status > 0 and loss < NOT_FINITE)


def smm_fit(cfg: SDCEConfig, targets: Sequence[Target], params: Sequence[str], starts: int = 4, seed: int = 0,
            type_nodes: int = TYPE_NODES, on_evaluation: Callable[[], None] | None = None) -> SMMFit:
    """The SMM fit of `params` to `targets` from `starts` starts (module docstring). PMIR targets are held out:
    reported at the fit with their z, not fitted."""
    fitted, held = check_smm(targets, params, starts)
    names = tuple(params)
    u0 = to_unconstrained(config_values(cfg, names), names)
    draws = np.random.default_rng(seed).standard_normal((starts - 1, len(names)))
    moment_map = MomentMap(cfg, [t.moment for t in fitted], names, type_nodes)
    values, se = np.array([t.value for t in fitted]), np.array([t.se for t in fitted])
    residuals = _Residuals(moment_map, names, values, se, on_evaluation)
    runs = [_minimise(residuals, u) for u in [u0, *(u0 + draws)]]
    done = [k for k, run in enumerate(runs) if run[3]]
    pool = done or [k for k, run in enumerate(runs) if run[1] < NOT_FINITE]
    if not pool:
        raise ConfigError("smm: the continuum diverged at the end of every start; try other starts")
    best = min(pool, key=lambda k: runs[k][1])
    u = runs[best][0]
    theta = np.asarray(to_natural(jnp.asarray(u, jnp.float32), names), float)
    r, jacobian_u = residuals.residuals(u), residuals.jacobian(u)
    check_diagnostics(residuals.diagnostics(u), dict(zip(names, theta)))
    fitted_moments = values + se * r
    slope = np.diag(np.asarray(jax.jacfwd(lambda v: to_natural(v, names))(jnp.asarray(u, jnp.float32)), float))
    jacobian = se[:, None] * jacobian_u / slope[None, :]
    errors = sandwich_se(jacobian, se)
    rows = [{"moment": t.moment, "target": t.value, "se": t.se, "fitted": float(m), "z": float((m - t.value) / t.se),
             "in_fit": True} for t, m in zip(fitted, fitted_moments)]
    if held:
        at_fit = model_moments(cfg.replace(**dict(zip(names, map(float, theta)))), [t.moment for t in held])
        rows += [{"moment": t.moment, "target": t.value, "se": t.se, "fitted": at_fit[t.moment],
                  "z": (at_fit[t.moment] - t.value) / t.se, "in_fit": False} for t in held]
    loss = float(sum(r["z"] ** 2 for r in rows if r["in_fit"]))
    return SMMFit(params=dict(zip(names, map(float, theta))), se=dict(zip(names, map(float, errors))), loss=loss,
                  converged=bool(done), moments=rows, starts=[run[1] for run in runs],
                  iterations=[run[2] for run in runs], start_converged=[run[3] for run in runs],
                  bounds={n: tuple(parameter_bounds(n)) for n in names})


def plot_fit(fit: SMMFit, title: str, path) -> None:
    """Left: fitted against target, the target's ±2 se as error bars, the 45° line; right: z by moment with the
    |z| <= 2 band (docs/figures.md). Held-out moments are hollow."""
    rows = fit.moments
    fig = Figure(figsize=(12, max(4.5, 0.22 * len(rows) + 1.5)), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.2))
    for in_fit, face, label in ((True, "C0", "fitted moment"), (False, "none", "held out (PMIR)")):
        chosen = [r for r in rows if r["in_fit"] is in_fit]
        if not chosen:
            continue
        left.errorbar([r["target"] for r in chosen], [r["fitted"] for r in chosen],
                      xerr=[2 * r["se"] for r in chosen], fmt="o", mfc=face, color="C0" if in_fit else "C1",
                      ms=4, elinewidth=0.8, label=label)
        right.plot([r["z"] for r in chosen], [rows.index(r) for r in chosen], "o", mfc=face,
                   color="C0" if in_fit else "C1", ms=4)
    reach = [min(min(r["target"], r["fitted"]) for r in rows), max(max(r["target"], r["fitted"]) for r in rows)]
    left.plot(reach, reach, color="0.4", lw=0.8, label="fitted = target")
    left.set(xlabel=r"target ($\pm 2$ se)", ylabel="continuum at the fit", title="moments")
    right.axvspan(-2, 2, color="0.9", label=r"$|z| \leq 2$")
    right.axvline(0, color="0.4", lw=0.8)
    right.set_yticks(range(len(rows)), [r["moment"] for r in rows], fontsize=7)
    right.invert_yaxis()
    right.set_xscale("symlog", linthresh=2)
    extent = max(4.0, *(1.5 * abs(r["z"]) for r in rows))
    right.set_xlim(-extent, extent)
    right.set(xlabel=r"$z = (\mathrm{fitted} - \mathrm{target})\,/\,\mathrm{se}$", ylabel="moment", title="z by moment")
    fig.suptitle(title)
    figure_legend(fig)
    save_figure_atomic(fig, path, 110)
