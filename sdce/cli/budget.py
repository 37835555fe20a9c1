"""Memory a job will need, estimated before any work, against this machine's memory (docs/architecture.md).

The estimates are upper bounds from the arrays each job holds: measured for the ABM (a process of about 0.9 GiB
with JAX loaded, and about 0.4 KiB per producer-trainer pair under PMIR at N = 8192, M = 16; the bound takes
1 KiB), and counted from the array shapes elsewhere. A job whose bound exceeds the budget (80% of physical memory,
or `SDCE_MEMORY_GIB` gigabytes when set) is refused with the largest size that fits.
"""

from __future__ import annotations

import os
from typing import Callable

from sdce.errors import ConfigError

GIB = 2**30
BASE = 1.0 * GIB  # the interpreter with JAX, Mesa and pandas loaded
PAIR = 1024.0  # bytes per producer-trainer pair in the ABM (bundles, prices, PMIR features and influences)
BUDGET_VARIABLE = "SDCE_MEMORY_GIB"


def memory_budget() -> float:
    """Bytes a job may use: `SDCE_MEMORY_GIB` GiB when set, else 80% of this machine's physical memory."""
    given = os.environ.get(BUDGET_VARIABLE)
    if given is not None:
        try:
            return float(given) * GIB
        except ValueError:
            raise ConfigError(f"{BUDGET_VARIABLE}={given!r}: expected a number of GiB") from None
    return 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def abm_bytes(producers: int, trainers: int, generations: int) -> float:
    """One ABM run: the pairs' arrays and the per-generation record of every producer's provenance."""
    return BASE + PAIR * producers * trainers + 8.0 * 4 * producers * (generations + 1)


def _largest(need: Callable[[int], float], budget: float) -> int | None:
    """The largest n >= 1 with need(n) <= budget (need increasing in n), or None."""
    low, high = 1, 2**62
    if need(low) > budget:
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if need(mid) <= budget else (low, mid - 1)
    return low


def check_memory(what: str, need: Callable[..., float], **sizes: int) -> None:
    """Refuse `what` before any work when need(**sizes) bytes exceed the budget; the message names, for each size
    (a command-line option), the largest value that fits with the others held."""
    budget, total = memory_budget(), need(**sizes)
    if total <= budget:
        return
    fits = {name: _largest(lambda v, name=name: need(**{**sizes, name: v}), budget) for name in sizes}
    hint = " or ".join(f"--{name.replace('_', '-')} {v}" for name, v in fits.items() if v)
    raise ConfigError(f"{what} ({', '.join(f'{k} = {v}' for k, v in sizes.items())}) needs about {total / GIB:.3g} "
                      f"GiB of memory, more than this machine's budget of {budget / GIB:.3g} GiB"
                      f"{'; at most ' + hint + ' fits' if hint else ''} (set {BUDGET_VARIABLE} to raise the budget)")


def meanfield_bytes(generations: int) -> float:
    """The continuum's stacked outputs: at most 32 arrays of 4096 float32 values (types or grid points) a
    generation."""
    return BASE + 4.0 * 32 * 4096 * (generations + 1)


def retrain_bytes(rhos: int, seeds: int, generations: int) -> float:
    """The retraining panel (a row per metric, ratio, seed and generation, ~1 KiB per cell with the buffers)."""
    return BASE + 1024.0 * rhos * seeds * (generations + 1)


def collapse_bytes(samples: int, dim: int, generations: int, reps: int, accumulate: bool) -> float:
    """One chain's samples (all of them under `accumulate`, a few generations' otherwise) and the metrics."""
    held = generations + 1 if accumulate else 4
    return BASE + 8.0 * 4 * samples * dim * held + 8.0 * 8 * reps * (generations + 1)


def theorem5_bytes(reps: int, producers: int) -> float:
    """The (reps, producers) running-mean estimates with their noise draws."""
    return BASE + 8.0 * 3 * reps * producers
