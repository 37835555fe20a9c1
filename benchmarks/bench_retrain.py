"""Does vmapping the contamination ratios pay? One retraining generation for K ratios, batched against looped.

    python benchmarks/bench_retrain.py [--domain text] [--size small] [--ratios 5] [--repeats 2]

Times (best of `repeats`, after a warm-up that compiles) one later generation (sample from the previous model,
mix, train a fresh model, evaluate) for K ratios: once as the loop runs it (`jax.vmap` over the ratios, one call),
and once as K calls of the same function on one ratio each. The ratio looped / batched is the gain from vmap.
"""

from __future__ import annotations

import argparse

import jax
from timing import best_time
import jax.numpy as jnp

from calibration.retrain.loop import generation_functions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="text")
    parser.add_argument("--size", default="small")
    parser.add_argument("--ratios", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    first, later = generation_functions(args.domain, args.size, 0.8, "replace", 10)
    params, buffer, _, _ = first(jax.random.PRNGKey(0))
    k = args.ratios
    rhos = jnp.linspace(0.1, 0.9, k)
    stack = lambda x: jnp.broadcast_to(x, (k, *x.shape))  # noqa: E731
    batched_params, batched_buffer = jax.tree.map(stack, params), stack(buffer)
    one = lambda x: x[None]  # noqa: E731
    key = jax.random.PRNGKey(1)

    batched = best_time(lambda: later(key, batched_params, batched_buffer, rhos, 1), args.repeats)
    looped = best_time(lambda: [later(key, jax.tree.map(one, params), one(buffer), rhos[i:i + 1], 1) for i in range(k)],
                  args.repeats)
    print(f"{args.domain} ({args.size}), one generation for {k} ratios on {jax.devices()[0].platform}: "
          f"vmapped {batched:.2f} s, looped {looped:.2f} s, looped / vmapped = {looped / batched:.2f}")


if __name__ == "__main__":
    main()
