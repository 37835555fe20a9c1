"""`technology = "retrain"` (docs/model.md §4, §11): trainers' models are Flax models trained on their bundles.

Each generation trainer j trains a fresh model of the chosen retraining domain on round(samples_per_unit H_j) fresh
human items and round(samples_per_unit S_j) synthetic items (or on everything so far under `accumulate`). The
synthetic items are drawn from the public model of the last generation: the trainers' models mixed by output share,
sampled at temperature tau. All M trainers train at once (`vmap`), each on its own data count.

Fidelity is the excess held-out cross-entropy over a reference model trained the same way on human data only:
D_j = log PPL_j - log PPL_ref = KL(p‖q_j) - KL(p‖q_ref) per unit (nats). It plays the part of KL(q_j‖p) in the
collapse channel exp(-kappa_Q D_j); note the direction of the divergence, and that D_j can be slightly negative
when a trainer holds more data than the reference.
"""

from __future__ import annotations

import math
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from calibration.retrain.domain import train
from calibration.retrain.loop import build_domain
from sdce.config import SDCEConfig


@lru_cache(maxsize=8)
def _compiled(name: str, size: str, tau: float, n: int):
    """jitted (train every trainer, evaluate every trainer, draw every trainer's items, train one reference model),
    shared by every run with the same domain, size, temperature and items per generation."""
    domain = build_domain(name, size)

    def draw(key, params, shares, n_h, n_s):
        """Per trainer: n_h fresh human items, then n_s items from the share-weighted public model at tau."""
        m = n_h.shape[0]
        k_h, k_s, k_pick, k_src = jax.random.split(key, 4)
        human = jax.vmap(lambda k: domain.draw_human(k, n))(jax.random.split(k_h, m))
        if params is None:
            return human
        own = jax.vmap(lambda k, p: domain.sample(k, p, n, tau))(jax.random.split(k_s, m), params)
        source = jax.random.categorical(k_src, jnp.log(shares), shape=(m, n))
        pick = jax.random.randint(k_pick, (m, n), 0, n)
        synthetic = own[source, pick]
        k = jnp.arange(n)[None, :]
        human_part = (k < n_h[:, None]).reshape(m, n, *([1] * (human.ndim - 2)))
        shifted = synthetic[jnp.arange(m)[:, None], jnp.clip(k - n_h[:, None], 0, n - 1)]
        return jnp.where(human_part, human, shifted)

    return (jax.jit(jax.vmap(lambda k, data, count: train(domain, k, data, count))),
            jax.jit(jax.vmap(domain.evaluate)), jax.jit(draw),
            jax.jit(lambda k, d: train(domain, k, d, d.shape[0])))


class RetrainTechnology:
    """The trained-model data world of an ABM run: holds the trainers' parameters and their data buffers."""

    def __init__(self, cfg: SDCEConfig, volume: float, key: jax.Array) -> None:
        self.domain = domain = build_domain(cfg.retrain_domain, cfg.retrain_size)
        self.accumulate = cfg.data_mode == "accumulate"
        self.per_generation = math.ceil(cfg.samples_per_unit * volume) + 2
        self.capacity = self.per_generation * (cfg.generations + 1 if self.accumulate else 1)
        m = cfg.n_trainers
        self.params = None
        self.shares = jnp.full(m, 1.0 / m)
        self.filled = jnp.zeros(m, jnp.int32)
        self.buffer = None
        self._train, self._evaluate, self._draw, train_one = _compiled(
            cfg.retrain_domain, cfg.retrain_size, cfg.temperature, self.per_generation)
        k_ref, self._key = jax.random.split(key)
        ref_params, _ = train_one(k_ref, domain.draw_human(k_ref, self.per_generation))
        self.reference_perplexity = float(domain.evaluate(ref_params)["perplexity"])

    def generation(self, seed: int, n_human: np.ndarray, n_synthetic: np.ndarray) -> np.ndarray:
        """Train every trainer's next model; returns the fidelities D_j (M,)."""
        key = jax.random.fold_in(self._key, seed)
        k_draw, k_train = jax.random.split(key)
        first = self.params is None
        n_h = jnp.asarray(n_human + n_synthetic if first else n_human, jnp.int32)
        n_s = jnp.zeros_like(n_h) if first else jnp.asarray(n_synthetic, jnp.int32)
        new = self._draw(k_draw, self.params, self.shares, n_h, n_s)
        count = n_h + n_s
        if self.accumulate:
            if self.buffer is None:
                self.buffer = jnp.zeros((new.shape[0], self.capacity, *new.shape[2:]), new.dtype)
            idx = jnp.arange(self.capacity)[None, :] - self.filled[:, None]
            valid = ((idx >= 0) & (idx < count[:, None])).reshape(*idx.shape, *([1] * (new.ndim - 2)))
            rows = jnp.arange(new.shape[0])[:, None]
            self.buffer = jnp.where(valid, new[rows, jnp.clip(idx, 0, new.shape[1] - 1)], self.buffer)
            self.filled = self.filled + count
            data, count = self.buffer, self.filled
        else:
            data = new
        self.params, self.train_loss = self._train(jax.random.split(k_train, new.shape[0]), data,
                                                   jnp.maximum(count, 1))
        perplexity = np.asarray(self._evaluate(self.params)["perplexity"])
        return np.log(perplexity) - math.log(self.reference_perplexity)
