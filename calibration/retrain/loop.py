"""The recursive-retraining loop (docs/model.md §11), with a checkpoint after every finished generation.

Generation 0 trains a fresh model on human data only. Generation t >= 1 trains a fresh model on n items: a
round((1 - rho) n) share of fresh human items and the rest sampled from generation t-1's model at temperature tau
(`replace`), or on everything drawn so far (`accumulate`). Each model is scored on the domain's frozen held-out
human split. The ratios are trained side by side (`vmap`) from common random numbers: for a given seed and
generation every ratio sees the same human draws and the same initialization, so the ratios differ only through
contamination. Keys depend only on (seed, generation), so a resumed run reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import importlib
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from calibration.retrain.domain import Domain, Size, train
from sdce.atomic import atomic_write
from sdce.config import param, validated
from sdce.errors import ConfigError
from sdce.result_log import read_log, write_log
from sdce.run_folder import claim_folder

DOMAINS: tuple[str, ...] = ("text", "images", "recsys")
PANEL_COLUMNS = ["domain", "rho", "generation", "seed", "metric", "value"]


class RetrainConfig(BaseModel):
    """Parameters of `sdce retrain`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    domain: Literal["text", "images", "recsys"] = param("text", "|".join(DOMAINS), "benchmark domain", "retrain")
    rhos: tuple[float, ...] = param((0.1, 0.3, 0.5, 0.7, 0.9), "floats in [0, 1]",
                                    "contamination ratios rho (synthetic share of each generation)", "retrain")
    generations: int = param(10, "integer >= 1", "T, generations after generation 0", "retrain", ge=1)
    seeds: int = param(1, "integer >= 1", "K, replications (seeds seed, seed+1, ...)", "retrain", ge=1)
    seed: int = param(0, "integer >= 0", "first seed", "retrain", ge=0)
    tau: float = param(0.8, "0 < float <= 1", "sampling temperature of the synthetic data", "retrain",
                       gt=0.0, le=1.0)
    data_mode: Literal["replace", "accumulate"] = param("replace", "replace|accumulate",
                                                         "train on this generation's data or on all so far",
                                                         "retrain")
    size: Size = param("small", "tiny|small|paper", "model and data size (tiny: tests; paper: a GPU)", "retrain")

    @field_validator("rhos")
    @classmethod
    def _rhos(cls, rhos: tuple[float, ...]) -> tuple[float, ...]:
        if not rhos:
            raise ValueError("give at least one contamination ratio")
        bad = [r for r in rhos if not 0.0 <= r <= 1.0]
        if bad:
            raise ValueError(f"every rho must lie in [0, 1]; got {', '.join(map(str, bad))}")
        if len(set(rhos)) != len(rhos):
            raise ValueError(f"rhos must be distinct; got {rhos}")
        return rhos


def make_retrain_config(**values: Any) -> RetrainConfig:
    """A validated RetrainConfig; `rhos` may be a comma-separated string."""
    rhos = values.get("rhos")
    if isinstance(rhos, str):
        try:
            values["rhos"] = tuple(float(r) for r in rhos.split(",") if r.strip())
        except ValueError:
            raise ConfigError(f"invalid configuration:\n  rhos: expected comma-separated numbers, got {rhos!r}") \
                from None
    elif rhos is not None:
        values["rhos"] = tuple(float(r) for r in rhos)
    return validated(RetrainConfig, {k: v for k, v in values.items() if v is not None})


@lru_cache(maxsize=8)
def build_domain(name: str, size: Size) -> Domain:
    """The domain `name` at `size` (modules calibration.retrain.text / images / recsys)."""
    if name not in DOMAINS:
        raise ConfigError(f"unknown domain {name!r}; choose one of {', '.join(DOMAINS)}")
    module = importlib.import_module(f"calibration.retrain.{name}")
    return getattr(module, f"{name}_domain")(size)


@lru_cache(maxsize=8)
def generation_functions(name: str, size: Size, tau: float, data_mode: str, generations: int):
    """jitted (first, next): generation 0 on human data, and one later generation vmapped over the ratios."""
    domain = build_domain(name, size)
    n = domain.items_per_generation
    capacity = n * (generations + 1) if data_mode == "accumulate" else n

    def first(key):
        k_h, k_t = jax.random.split(key)
        human = domain.draw_human(k_h, n)
        buffer = jnp.zeros((capacity, *human.shape[1:]), human.dtype).at[:n].set(human)
        params, loss = train(domain, k_t, buffer, n)
        return params, buffer, loss, domain.evaluate(params)

    def later(key, params, buffer, rho, t):
        k_h, k_s, k_t = jax.random.split(key, 3)
        human = domain.draw_human(k_h, n)
        synthetic = domain.sample(k_s, params, n, tau)
        human_share = jnp.arange(n) < jnp.round((1.0 - rho) * n)
        mixed = jnp.where(human_share.reshape(-1, *([1] * (human.ndim - 1))), human, synthetic)
        if data_mode == "accumulate":
            buffer = jax.lax.dynamic_update_slice_in_dim(buffer, mixed, t * n, axis=0)
            count = (t + 1) * n
        else:
            buffer, count = mixed, n
        params, loss = train(domain, k_t, buffer, count)
        return params, buffer, loss, domain.evaluate(params)

    return jax.jit(first), jax.jit(jax.vmap(later, in_axes=(None, 0, 0, 0, None)))


def _key(seed: int, generation: int) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(seed), generation)


def _save_state(path: Path, generation: int, params: Any, buffer: jax.Array) -> None:
    leaves = {f"leaf{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, generation=generation, buffer=np.asarray(buffer), **leaves)

    atomic_write(path, write)


def _load_state(path: Path, template: Any) -> tuple[int, Any, jax.Array]:
    """A seed's saved state; a damaged file (its zip CRCs fail, or it lacks a leaf) raises ConfigError."""
    try:
        with np.load(path) as z:
            leaves = [jnp.asarray(z[f"leaf{i}"]) for i in range(len(jax.tree.leaves(template)))]
            return int(z["generation"]), jax.tree.unflatten(jax.tree.structure(template), leaves), jnp.asarray(
                z["buffer"])
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); delete it to redo that seed") from None


def run_retraining(cfg: RetrainConfig, out: Path, on_cells: Callable[[int], None] | None = None,
                   force: bool = False) -> pd.DataFrame:
    """Run (or resume) the grid rhos x seeds x generations 0..T; returns the tidy panel written to out/panel.csv.

    After every generation of every seed the panel and that seed's state (the models of every ratio and their
    data buffer) are written atomically; rerunning the same command continues where it stopped. `on_cells(k)` is
    called when k more (rho, seed, generation) cells are done, including cells found already done. `force` clears
    a folder that holds a run of another configuration.
    """
    out = Path(out)
    claim_folder(out, cfg.model_dump(mode="json"), "config.json", "a retraining run", force=force)
    (out / "state").mkdir(exist_ok=True)
    panel_path = out / "panel.csv"
    rows = read_log(panel_path, PANEL_COLUMNS).to_dict("records")
    domain = build_domain(cfg.domain, cfg.size)
    first, later = generation_functions(cfg.domain, cfg.size, cfg.tau, cfg.data_mode, cfg.generations)
    rhos = jnp.asarray(cfg.rhos, jnp.float32)
    k = len(cfg.rhos)
    advance = on_cells or (lambda _: None)

    for seed in range(cfg.seed, cfg.seed + cfg.seeds):
        state_path = out / "state" / f"seed{seed}.npz"
        if state_path.exists():
            template = jax.tree.map(lambda x: jnp.broadcast_to(x, (k, *x.shape)), domain.init(_key(seed, 0)))
            done, params, buffer = _load_state(state_path, template)
        else:
            done, params, buffer = -1, None, None
        rows = [r for r in rows if r["seed"] != seed or r["generation"] <= done]
        missing = sorted(set(range(done + 1)) - {r["generation"] for r in rows if r["seed"] == seed})
        if missing:
            raise ConfigError(f"{panel_path} lacks generations {missing} of seed {seed}, which {state_path} has "
                              "done; delete the folder to start over")
        advance(k * (done + 1))
        for t in range(done + 1, cfg.generations + 1):
            if t == 0:
                p0, b0, loss, metrics = first(_key(seed, 0))
                params = jax.tree.map(lambda x: jnp.broadcast_to(x, (k, *x.shape)), p0)
                buffer = jnp.broadcast_to(b0, (k, *b0.shape))
                loss = jnp.broadcast_to(loss, (k,))
                metrics = {m: jnp.broadcast_to(v, (k,)) for m, v in metrics.items()}
            else:
                params, buffer, loss, metrics = later(_key(seed, t), params, buffer, rhos, t)
            values = {**{m: np.asarray(v) for m, v in metrics.items()}, "train_loss": np.asarray(loss)}
            for i, rho in enumerate(cfg.rhos):
                rows.extend({"domain": cfg.domain, "rho": rho, "generation": t, "seed": seed, "metric": m,
                             "value": float(v[i])} for m, v in values.items())
            write_log(panel_path, pd.DataFrame(rows, columns=PANEL_COLUMNS))  # the panel first: a kill before
            _save_state(state_path, t, params, buffer)  # the state's write redoes generation t, never loses it
            advance(k)
    panel = pd.DataFrame(rows, columns=PANEL_COLUMNS).sort_values(["seed", "rho", "generation", "metric"])
    return panel.reset_index(drop=True)
