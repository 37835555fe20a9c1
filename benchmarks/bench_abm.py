"""Time a Table I-scale run (N=1024, M=16, T=10) and a 16x larger one (N=16384) in the same process.

    python benchmarks/bench_abm.py [--regime shapley] [--repeats 3]

Prints producer-generations per second and the cost ratio large/small (linear scaling in N gives <= 16).
JAX compilation is excluded by a warm-up run.
"""

from __future__ import annotations

import argparse
import time

from sdce_abm.model import SDCEModel


def timed_run(regime: str, n: int, seed: int) -> float:
    start = time.perf_counter()
    model = SDCEModel(seed=seed, regime=regime, n_producers=n)
    model.run_model()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--regimes", default="unregulated,statutory,shapley")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    timed_run("unregulated", 1024, 0)  # warm-up: JAX compiles the Sinkhorn solve
    print(f"{'regime':>12} {'N':>6} {'best s':>8} {'producer-gen/s':>15}")
    for regime in args.regimes.split(","):
        best = {}
        for n in (1024, 16384):
            best[n] = min(timed_run(regime, n, seed) for seed in range(args.repeats))
            print(f"{regime:>12} {n:>6} {best[n]:>8.3f} {n * 11 / best[n]:>15,.0f}")
        print(f"{regime:>12} ratio N=16384 / N=1024: {best[16384] / best[1024]:.2f} (16 = linear)")


if __name__ == "__main__":
    main()
