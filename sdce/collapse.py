"""The recursive-retraining chain with no market (Shumailov et al. 2024; Gerstgrasser et al. 2024; Bertrand et al.
2024): one model refitted each generation on fresh human samples and its own samples at temperature tau.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from rich.progress import track

from sdce.config import param, validated
from sdce.dataworld.learning import update_model
from sdce.dataworld.metrics import kl_divergence, w2_gaussian, w2_sinkhorn
from sdce.dataworld.mixture import Mixture, human_distribution, randomized_round, sample, temper


class CollapseConfig(BaseModel):
    """Parameters of `sdce collapse`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    family: Literal["gaussian", "gmm"] = param("gaussian", "gaussian|gmm", "model family", "chain")
    components: int = param(3, "integer >= 1", "K, components of the gmm family", "chain", ge=1)
    human: Literal["gaussian", "gmm"] | None = param(None, "gaussian|gmm", "p (default: same as family)", "chain")
    rule: Literal["mle", "wgf"] = param("mle", "mle|wgf", "learning rule", "chain")
    train_time: float = param(math.inf, "float > 0", "training time of the wgf rule", "chain", gt=0.0)
    rho: float = param(1.0, "0 <= float <= 1", "synthetic share of each generation's new samples", "chain",
                       ge=0.0, le=1.0)
    tau: float = param(1.0, "0 < float <= 1", "sampling temperature", "chain", gt=0.0, le=1.0)
    samples: int = param(100, "integer >= 2", "n, new samples per generation", "chain", ge=2)
    generations: int = param(50, "integer >= 1", "G, generations after generation 0", "chain", ge=1)
    reps: int = param(100, "integer >= 1", "independent replications", "chain", ge=1)
    dim: int = param(1, "integer >= 1", "d, dimension", "chain", ge=1)
    data_mode: Literal["replace", "accumulate"] = param("replace", "replace|accumulate", "data mode", "chain")
    em_iterations: int = param(30, "integer >= 1", "EM iterations (gmm family)", "chain", ge=1)
    probe_size: int = param(256, "integer >= 16", "probe size for Monte-Carlo KL and Sinkhorn W2", "chain", ge=16)
    sinkhorn_epsilon: float = param(0.05, "float > 0", "absolute epsilon of the ott-jax W2", "chain", gt=0.0)
    seed: int = param(0, "integer >= 0", "seed", "chain", ge=0)

    @model_validator(mode="after")
    def _checks(self) -> CollapseConfig:
        if self.samples <= self.dim:
            raise ValueError(f"samples must exceed dim to fit a covariance; got samples={self.samples}, "
                             f"dim={self.dim}")
        if self.family == "gmm" and self.components > self.samples:
            raise ValueError(f"components must be at most samples: EM cannot fit {self.components} components to "
                             f"{self.samples} samples a generation")
        if self.rule == "wgf" and self.family != "gaussian":
            raise ValueError(f"rule='wgf' needs family='gaussian'; got family={self.family!r}")
        return self


def _metrics(q: Mixture, p: Mixture, cfg: CollapseConfig, rng: np.random.Generator) -> tuple[float, ...]:
    mean, cov = q.moments()
    kl = kl_divergence(q, p, rng, cfg.probe_size)
    if q.is_gaussian and p.is_gaussian:
        w2 = float(w2_gaussian(q.means[0], q.covs[0], p.means[0], p.covs[0]))
    else:
        w2 = w2_sinkhorn(sample(q, cfg.probe_size, rng), sample(p, cfg.probe_size, rng), cfg.sinkhorn_epsilon)
    return float(np.linalg.norm(mean)), float(np.trace(cov)), kl, w2


def run_chain(cfg: CollapseConfig, rng: np.random.Generator) -> np.ndarray:
    """One replication; rows are generations 0..G, columns mean_norm, cov_trace, kl, w2."""
    p = human_distribution(cfg.dim, cfg.human or cfg.family, cfg.components, 2.0, 0.5)
    fit = dict(family=cfg.family, components=cfg.components, em_iterations=cfg.em_iterations, rule=cfg.rule,
               train_time=cfg.train_time, rng=rng)
    empty = np.empty((0, cfg.dim))
    human = sample(p, cfg.samples, rng)
    q = update_model(None, human, empty, **fit)
    pool_h, pool_s = [human], [empty]
    rows = [_metrics(q, p, cfg, rng)]
    for _ in range(cfg.generations):
        n_h = int(randomized_round(cfg.samples * (1 - cfg.rho), rng))
        new_h, new_s = sample(p, n_h, rng), sample(temper(q, cfg.tau), cfg.samples - n_h, rng)
        if cfg.data_mode == "accumulate":
            pool_h.append(new_h)
            pool_s.append(new_s)
            new_h, new_s = np.concatenate(pool_h), np.concatenate(pool_s)
        q = update_model(q, new_h, new_s, **fit)
        rows.append(_metrics(q, p, cfg, rng))
    return np.asarray(rows)


def collapse_chain(cfg: CollapseConfig, progress: bool = False) -> dict[str, Any]:
    """Mean (and standard error) over reps of each metric per generation; keys mean_norm, cov_trace, kl, w2."""
    children = np.random.SeedSequence(cfg.seed).spawn(cfg.reps)
    reps = range(cfg.reps)
    if progress:
        reps = track(reps, description="collapse chain", transient=True)
    runs = np.stack([run_chain(cfg, np.random.default_rng(children[r])) for r in reps])
    out: dict[str, Any] = {"config": cfg.model_dump(mode="json")}
    for k, name in enumerate(("mean_norm", "cov_trace", "kl", "w2")):
        out[name] = runs[:, :, k].mean(axis=0).tolist()
        out[f"{name}_se"] = (runs[:, :, k].std(axis=0, ddof=1) / np.sqrt(cfg.reps)).tolist() if cfg.reps > 1 \
            else [math.nan] * (cfg.generations + 1)
    out["mean_norm_sq"] = (runs[:, :, 0] ** 2).mean(axis=0).tolist()
    return out


def make_collapse_config(**values: Any) -> CollapseConfig:
    return validated(CollapseConfig, {k: v for k, v in values.items() if v is not None})
