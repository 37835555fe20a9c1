"""The deterministic N → ∞ trajectory of a configuration: the continuum market with a world for the generative
distribution, returned as NumPy with the same quantities as an ABM run (docs/model.md §9-§10).

`grid = "gaussian"` is the closed form (the ABM's Gaussian family in the limit); `"1d"` and `"2d"` solve (8)-(9)
for densities on a grid (no family), which is the paper's flow for any p. The `w2` drift W2(q̄_t, p) is the
mixture W2 in the Gaussian world (exact when q̄_t is one Gaussian; `meanfield.distance`) and the ott-jax debiased
Sinkhorn divergence on the grid in a grid world (`meanfield.transport`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from meanfield.distance import mixture_w2
from meanfield.grid import GridSpec, gaussian_mixture_masses
from meanfield.market import economy, gaussian_p, trajectory
from meanfield.transport import w2_grid
from meanfield.worlds import GaussianWorld, grid_world
from sdce.config import SDCEConfig
from sdce.dataworld.mixture import human_distribution
from sdce.economics.welfare import WELFARE_KEYS
from sdce.errors import ConfigError, DemandNotConverged, MeanFieldDiverged
from sdce.regimes.statutory import NEWTON_TOL
from sdce.results import Trajectory

GRIDS = ("gaussian", "1d", "2d")
GRID_CELLS = {1: 512, 2: 128}



def grid_spec(cfg: SDCEConfig) -> GridSpec:
    """The grid for p: n cells per axis on [-b, b]^d with b = 6 sd beyond p's farthest mode."""
    p = human_distribution(cfg.dim, cfg.human_dist, cfg.human_modes, cfg.human_mode_radius, cfg.human_mode_scale)
    reach = np.abs(p.means).max() + 6.0 * np.sqrt(np.max(np.diagonal(p.covs, axis1=1, axis2=2)))
    return GridSpec(dim=cfg.dim, n=GRID_CELLS[cfg.dim], bound=float(reach))


def check_meanfield(cfg: SDCEConfig, grid: str) -> None:
    """Reject what the limit does not cover, before any work starts."""
    if grid not in GRIDS:
        raise ConfigError(f"grid: unknown {grid!r}; allowed: {'|'.join(GRIDS)}")
    if grid == "gaussian" and cfg.family != "gaussian":
        raise ConfigError(f"grid='gaussian' is the limit of family='gaussian' (got family={cfg.family!r}); "
                          "use --grid 1d|2d for a density limit")
    if grid != "gaussian" and cfg.regime == "pmir":
        raise ConfigError(f"regime='pmir' in the continuum needs grid='gaussian' (its W2 shaping uses the models' "
                          f"moments); got grid={grid!r}")
    if grid != "gaussian" and cfg.dim != int(grid[0]):
        raise ConfigError(f"grid={grid!r} needs dim={grid[0]} (got dim={cfg.dim})")


def solve_meanfield(cfg: SDCEConfig, grid: str = "gaussian", type_nodes: int | None = None) -> dict:
    """Generations 0..T of the continuum market as NumPy arrays (per generation), plus `p` and the final state."""
    check_meanfield(cfg, grid)
    if grid == "gaussian":
        p, world = gaussian_p(cfg), GaussianWorld
    else:
        spec = grid_spec(cfg)
        human = human_distribution(cfg.dim, cfg.human_dist, cfg.human_modes, cfg.human_mode_radius,
                                   cfg.human_mode_scale)
        p, world = gaussian_mixture_masses(spec, human.weights, human.means, human.covs), grid_world(spec)
    econ = economy(cfg, p) if type_nodes is None else economy(cfg, p, type_nodes)
    out, _ = trajectory(econ, cfg, world, cfg.learning_rule, cfg.generations)
    result = {k: (tuple(np.asarray(a, np.float64) for a in v) if isinstance(v, tuple) else np.asarray(v, np.float64))
              for k, v in out.items()}
    if np.max(result["newton_residual"]) > 10 * NEWTON_TOL:
        raise DemandNotConverged(f"continuum bundle demand did not converge (residual "
                                 f"{np.max(result['newton_residual']):.2e}); try a larger bundle_temp")
    bad = [k for k in ("rho", "quality", "kl") if not np.all(np.isfinite(result[k]))]
    if bad:
        raise MeanFieldDiverged(f"the mean-field trajectory is not finite ({', '.join(bad)}); under "
                                f"learning_rule='wgf' a model collapses to a point when rho >= temperature")
    if grid == "gaussian":
        result["p"] = tuple(np.asarray(a, np.float64) for a in p)
        result["w2"] = np.array([mixture_w2(*(a[t] for a in result["public"]), *result["p"])
                                 for t in range(cfg.generations + 1)])
    else:
        result["p"] = np.asarray(p)
        result["w2"] = np.atleast_1d(w2_grid(result["public"], np.broadcast_to(result["p"],
                                                                                result["public"].shape), spec))
    return result


def _numerics(result: dict) -> dict:
    """PMIR's guarded numerics over the trajectory: optimizer updates skipped, prices kept (0 in other regimes)."""
    if "learning_skipped_updates" not in result:
        return {"skipped_updates": 0, "kept_prices": 0}
    return {"skipped_updates": int(result["learning_skipped_updates"][-1, -1]),
            "kept_prices": int(result["learning_kept_prices"].sum())}


FRAME_COLUMNS = ("rho", "quality", "price", "provenance", "provenance_p10", "provenance_p50", "provenance_p90", "kl",
                 "w2", "w2_moments", *WELFARE_KEYS)


def meanfield_frame(cfg: SDCEConfig, result: dict) -> pd.DataFrame:
    """A mean-field solve by generation (the run folder's trajectory.csv), with each trainer's Q_j and D_j."""
    frame = pd.DataFrame({c: result[c] for c in FRAME_COLUMNS}).rename_axis("generation")
    for name in ("quality_j", "fidelity_j"):
        for j in range(cfg.n_trainers):
            frame[f"{name}{j}"] = result[name][:, j]
    return frame


def meanfield_summary(cfg: SDCEConfig, result: dict, grid: str) -> Trajectory:
    """The `Trajectory` of a mean-field solve, as the ABM's (sdce_abm.output.summary)."""
    discount = cfg.discount ** np.arange(cfg.generations + 1)
    welfare = {k: float(result[k][-1]) for k in WELFARE_KEYS}
    welfare["W_discounted"] = float(discount @ result["W"])
    welfare["W_realized_discounted"] = float(discount @ result["W_realized"])
    keys = ("rho", "quality", "w2", "kl", "w2_moments", "provenance", "price")
    return Trajectory(**{k: result[k].tolist() for k in keys}, welfare_path=result["W"].tolist(), welfare=welfare,
                      w2_probe_floor=0.0, numerics=_numerics(result), config=cfg.model_dump(mode="json"), seed=None,
                      level="meanfield", grid=grid)
