"""What a retraining domain is, and the training step every domain shares (docs/model.md §11).

A domain bundles frozen human data (a generator of fresh training items and a held-out split), a Flax model, its
loss, its sampler at temperature tau, and its held-out metrics. Everything here is a pure JAX function of explicit
keys and parameters, so the loop can `jit` a whole generation and `vmap` it over contamination ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import jax
import optax

Size = Literal["tiny", "small", "paper"]
SIZES: tuple[str, ...] = Size.__args__
Params = Any


@dataclass(frozen=True)
class Domain:
    """One retraining benchmark. `metrics[0]` is the domain's headline metric for eq. (13)."""

    name: str
    metrics: tuple[str, ...]
    items_per_generation: int  # n: training items per generation
    draw_human: Callable[[jax.Array, int], jax.Array]  # (key, n) -> n fresh human items
    init: Callable[[jax.Array], Params]  # key -> fresh parameters
    loss: Callable[[Params, jax.Array], jax.Array]  # (params, batch of items) -> mean NLL per unit
    sample: Callable[[jax.Array, Params, int, float], jax.Array]  # (key, params, n, tau) -> n items
    evaluate: Callable[[Params], dict[str, jax.Array]]  # params -> held-out metrics
    steps: int  # optimizer steps per generation
    batch: int  # items per step
    learning_rate: float
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def sample_categorical(key: jax.Array, logits: jax.Array, tau: float | jax.Array) -> jax.Array:
    """Draw from softmax(logits / tau) along the last axis: tau = 1 is the model's own law, tau -> 0 its mode."""
    return jax.random.categorical(key, logits / tau, axis=-1)


def train(domain: Domain, key: jax.Array, data: jax.Array, count: jax.Array | int) -> tuple[Params, jax.Array]:
    """A fresh model fitted by Adam (optax) to the first `count` items of `data`; minibatches drawn uniformly.

    Returns the parameters and the training loss (mean over the last tenth of the steps). `count` may be traced,
    so buffers of one shape serve every data size (accumulated data, trainers with different bundles).
    """
    k_init, k_steps = jax.random.split(key)
    params = domain.init(k_init)
    optimizer = optax.adam(domain.learning_rate)
    grad = jax.value_and_grad(domain.loss)

    def step(carry, k):
        params, opt_state = carry
        batch = data[jax.random.randint(k, (domain.batch,), 0, count)]
        loss, g = grad(params, batch)
        updates, opt_state = optimizer.update(g, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                       jax.random.split(k_steps, domain.steps))
    tail = max(1, domain.steps // 10)
    return params, losses[-tail:].mean()
