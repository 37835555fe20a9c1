"""Memory and time a job will need, estimated before any work, against this machine's budgets
(docs/architecture.md).

Memory is bounded from above by the arrays each job holds: measured for the ABM (a process of about 0.9 GiB with
JAX loaded, and about 0.4 KiB per producer-trainer pair under PMIR at N = 8192, M = 16; the bound takes 1 KiB),
and counted from the array shapes elsewhere. Time is bounded from below, by half the fastest rate measured on a
2-core CPU (2026-12-02; `benchmarks/bench_budget.py` prints each bound beside a measured run), so that only a job
that surely cannot finish in time is refused. The budgets: 80% of physical memory, or `SDCE_MEMORY_GIB`
gigabytes; `SDCE_TIME_HOURS` hours (default 24). A refused job is told the largest size that fits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sdce.errors import ConfigError

GIB = 2**30
BASE = 1.0 * GIB  # the interpreter with JAX, Mesa and pandas loaded
PAIR = 1024.0  # bytes per producer-trainer pair in the ABM (bundles, prices, PMIR features and influences)
MEMORY_VARIABLE = "SDCE_MEMORY_GIB"
TIME_VARIABLE = "SDCE_TIME_HOURS"
DEFAULT_HOURS = 24.0

# Lower bounds on seconds, half the fastest measured: an ABM generation 0.079 s at N = 1024, M = 4 and 0.121 s at
# N = 8192, M = 16 (the fastest regime); a generation of the continuum's Gaussian world 0.001 s once compiled; a
# retraining cell 0.19 s (tiny, compiled) and 4.3 s (small); a collapse sample 1e-7 s; a Theorem 5 signal 2e-8 s.
ABM_GENERATION = 0.035
ABM_PAIR = 1.5e-7
MEANFIELD_GENERATION = 0.0004
RETRAIN_CELL = {"tiny": 0.05, "small": 1.0, "paper": 1.0}
COLLAPSE_SAMPLE = 5e-8
THEOREM5_SIGNAL = 1e-8


@dataclass(frozen=True)
class Need:
    """What a job needs: bytes of memory (an upper bound) and seconds (a lower bound)."""

    memory: float
    seconds: float


def _number(variable: str, default: float | None, unit: str) -> float | None:
    given = os.environ.get(variable)
    if given is None:
        return default
    try:
        value = float(given)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise ConfigError(f"{variable}={given!r}: expected a positive number of {unit}")
    return value


def memory_budget() -> float:
    """Bytes a job may use: `SDCE_MEMORY_GIB` GiB when set, else 80% of this machine's physical memory."""
    gib = _number(MEMORY_VARIABLE, None, "GiB")
    return gib * GIB if gib is not None else 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def time_budget() -> float:
    """Seconds a job may take: `SDCE_TIME_HOURS` hours when set, else 24 hours."""
    return _number(TIME_VARIABLE, DEFAULT_HOURS, "hours") * 3600.0


def _largest(fits: Callable[[int], bool]) -> int | None:
    """The largest n >= 1 with fits(n) (fits decreasing in n), or None."""
    low, high = 1, 2**62
    if not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} h" if seconds >= 3600 else f"{seconds:.3g} s"


def _label(name: str, labels: Mapping[str, str], value: int) -> str:
    label = labels.get(name, f"--{name.replace('_', '-')}")
    return f"{label} {value}" if label.startswith("--") else f"{label} = {value}"


def check_budget(what: str, need: Callable[..., Need], labels: Mapping[str, str] | None = None,
                 **sizes: int) -> None:
    """Refuse `what` before any work when need(**sizes) exceeds the memory or the time budget; the message names,
    for each size, the largest value that fits both budgets with the others held. A size is named as the option
    `--size-name`, or as `labels[name]` (a configuration field, for commands without that option)."""
    limits = (("memory", "memory", memory_budget(), lambda b: f"{b / GIB:.3g} GiB", "about", MEMORY_VARIABLE),
              ("seconds", "time", time_budget(), _hours, "at least", TIME_VARIABLE))

    def fits(values: dict) -> bool:
        found = need(**values)
        return all(getattr(found, field) <= budget for field, _, budget, *_ in limits)

    total = need(**sizes)
    for field, kind, budget, show, bound, variable in limits:
        if getattr(total, field) <= budget:
            continue
        largest = {name: _largest(lambda v, name=name: fits({**sizes, name: v})) for name in sizes}
        hint = " or ".join(_label(name, labels or {}, v) for name, v in largest.items() if v)
        raise ConfigError(f"{what} ({', '.join(f'{k} = {v}' for k, v in sizes.items())}) needs {bound} "
                          f"{show(getattr(total, field))} of {kind}, more than this machine's {kind} budget of "
                          f"{show(budget)}"
                          f"{'; at most ' + hint + ' fits' if hint else ''} (set {variable} to raise the budget)")


def abm_need(producers: int, trainers: int, generations: int, runs: int = 1) -> Need:
    """`runs` ABM runs, one at a time: the pairs' arrays and the per-generation record of every producer's
    provenance; each generation's work grows with the producer-trainer pairs."""
    pairs = producers * trainers
    return Need(BASE + PAIR * pairs + 8.0 * 4 * producers * (generations + 1),
                runs * (generations + 1) * (ABM_GENERATION + ABM_PAIR * pairs))


CONFIG_LABELS = {"producers": "n_producers", "trainers": "n_trainers", "generations": "generations"}
OPTION_LABELS = {"producers": "--producers", "trainers": "--trainers", "generations": "--generations"}


def check_abm(cfg: Any, what: str = "an ABM run", runs: int = 1, producers: int | None = None,
              labels: Mapping[str, str] = CONFIG_LABELS) -> None:
    """`check_budget` for `runs` ABM runs of the configuration `cfg` (an `SDCEConfig`; N = `producers` when
    given). The sizes are named as configuration fields unless `labels` names options."""
    check_budget(what, lambda producers, trainers, generations: abm_need(producers, trainers, generations, runs),
                 labels, producers=producers or cfg.n_producers, trainers=cfg.n_trainers,
                 generations=cfg.generations)


def meanfield_need(generations: int) -> Need:
    """The continuum's stacked outputs: at most 32 arrays of 4096 float32 values (types or grid points) a
    generation."""
    return Need(BASE + 4.0 * 32 * 4096 * (generations + 1), MEANFIELD_GENERATION * (generations + 1))


def retrain_need(rhos: int, seeds: int, generations: int, size: str) -> Need:
    """The retraining panel (a row per metric, ratio, seed and generation, ~1 KiB per cell with the buffers); one
    model trained per cell."""
    cells = rhos * seeds * (generations + 1)
    return Need(BASE + 1024.0 * cells, RETRAIN_CELL[size] * cells)


def collapse_need(samples: int, dim: int, generations: int, reps: int, accumulate: bool) -> Need:
    """One chain's samples (all of them under `accumulate`, a few generations' otherwise) and the metrics."""
    held = generations + 1 if accumulate else 4
    drawn = samples * dim * reps * (generations + 1)
    return Need(BASE + 8.0 * 4 * samples * dim * held + 8.0 * 8 * reps * (generations + 1),
                COLLAPSE_SAMPLE * drawn * ((generations + 2) / 2 if accumulate else 1))


def theorem5_need(reps: int, producers: int, horizon: int) -> Need:
    """The (reps, producers) running-mean estimates with their noise draws, over `horizon` signals."""
    return Need(BASE + 8.0 * 3 * reps * producers, THEOREM5_SIGNAL * reps * producers * horizon)
