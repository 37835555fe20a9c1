"""Timing shared by the benchmarks: best of `repeats` after a warm-up call that compiles."""

from __future__ import annotations

import time

import jax


def best_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)
