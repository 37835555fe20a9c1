"""The ABM runs behind Tables III and V: the paper's 32 replication seeds, and a resumable pool of runs.

Each (regime, policy, seed) is one ABM run to generation T. Runs go to a pool of spawned processes (JAX does not
survive fork) and each finished run is written to DIR/runs.csv at once (the
whole log, atomically, with its checksum: `sdce.result_log`); a rerun skips the runs already there, and
DIR/settings.json refuses a folder that holds runs made with other settings. Tables III and V share this log
(`calibration.tables` builds them from it).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from sdce.config import REGIMES, SDCEConfig
from sdce.errors import ConfigError
from sdce.paper.published import LISTED_SEEDS, N_SEEDS
from sdce.result_log import read_log, write_log
from sdce.run_folder import claim_folder


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, math.isqrt(n) + 1))


def _nearest_prime(x: float) -> int:
    below, above = math.floor(x), math.ceil(x)
    while not _is_prime(below):
        below -= 1
    while not _is_prime(above):
        above += 1
    return below if x - below <= above - x else above


def _paper_seeds() -> tuple[int, ...]:
    first, last = LISTED_SEEDS[3], LISTED_SEEDS[-1]
    missing = N_SEEDS - len(LISTED_SEEDS)
    ratio = (last / first) ** (1.0 / (missing + 1))
    return (*LISTED_SEEDS[:4], *(_nearest_prime(first * ratio**k) for k in range(1, missing + 1)), last)


# The paper's 32 replication seeds. It prints only 17, 31, 42, 53 and 9973 (Section XII); the middle 27 are OURS:
# the prime nearest to 53 (9973/53)^(k/28) for k = 1..27 (geometric spacing, ties to the smaller prime).
PAPER_SEEDS: tuple[int, ...] = _paper_seeds()
SEEDS_RULE = ("the paper prints only 17, 31, 42, 53 and 9973 of its 32 seeds; the middle 27 are ours: the prime "
              "nearest to 53·(9973/53)^(k/28) for k = 1..27 (geometric spacing, ties to the smaller)")

TABLE3_REGIMES: tuple[str, ...] = ("unregulated", "statutory", "shapley", "pmir", "intermediary")
TABLE5_POLICIES: tuple[str, ...] = ("none", "subsidy", "disclosure", "royalty-cap", "transfer")


# The paper gives no level for the royalty cap or the transfer. Ours are fixed fractions (not tuned) of one reference
# run, the policy regime without a policy at the first paper seed, at generation T: p̄ = CAP_FRACTION x its mean
# price per unit, transfer = TRANSFER_FRACTION x its mean payment per producer. One level for every seed, as a
# regulator sets one cap for the market and not one per realisation of it.
CAP_FRACTION = 0.5
TRANSFER_FRACTION = 0.5
REFERENCE_SEED = PAPER_SEEDS[0]
DEPENDENT = ("royalty-cap", "transfer")  # policies whose level comes from the reference run
OUTCOMES = ("quality", "w2", "rho", "W", "W_realized", "residual", "price", "payment", "policy_cost")
LOG_COLUMNS = ["regime", "policy", "seed", "level", *OUTCOMES]


def seed_list(n: int) -> list[int]:
    """The first n of PAPER_SEEDS; ConfigError unless 1 <= n <= 32."""
    if not 1 <= n <= N_SEEDS:
        raise ConfigError(f"--seeds must be between 1 and {N_SEEDS} (the paper's replications), got {n}")
    return list(PAPER_SEEDS[:n])


# -- runs ------------------------------------------------------------------------------------------------------


def _run(cfg: SDCEConfig, seed: int) -> dict:
    """One ABM run to generation T; its generation-T outcomes (the pool's worker function)."""
    from sdce_abm.model import SDCEModel

    model = SDCEModel(config=cfg, seed=seed)
    model.run_model()
    w = model.welfare
    return {"quality": model.mean_quality, "w2": model.w2_public, "rho": model.rho, "W": w["W"],
            "W_realized": w["W_realized"], "residual": w["residual"], "price": model.mean_price,
            "payment": float(model.producer_state.received.mean()), "policy_cost": w["policy_cost"]}


def _single_threaded_xla() -> None:
    """Pool initializer: one XLA thread per worker (the workers already fill the cores; JAX is not imported yet)."""
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen=false",
                                        "intra_op_parallelism_threads=1"]).strip()


def _flat(prefix: str, values: Mapping) -> dict:
    return {f"{prefix}.{k}": v for k, v in values.items()}


def _neutral(cfg: SDCEConfig) -> SDCEConfig:
    """`cfg` without its regime and policy: what the runs of a tables folder share."""
    return cfg.replace(regime="unregulated", policy="none", subsidy=0.0, watermark=0.0, royalty_cap=math.inf,
                       transfer=0.0)


def claim_tables_folder(out: Path, cfg: SDCEConfig, extra: Mapping | None = None, force: bool = False) -> None:
    """Claim `out` for the tables of `cfg` (`settings.json`, merged by every table that writes there: the
    configuration without its regime and policy, plus `extra`); `force` clears a folder of another configuration."""
    record = {**_flat("config", _neutral(cfg).model_dump(mode="json")), **(extra or {})}
    claim_folder(Path(out), record, "settings.json", "runs", merge=True, force=force)


def _read_log(path: Path) -> pd.DataFrame:
    return read_log(path, LOG_COLUMNS)


def planned_runs(seeds: Sequence[int], regimes: Sequence[str] = (), policies: Sequence[str] = (),
                 policy_regime: str = "pmir") -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """The (regime, policy, seed) runs of `simulate`: those its table reads, and those it makes (the same, with the
    reference run first when the cap or the transfer waits for it)."""
    cells = list(dict.fromkeys([("unregulated", "none"), *((r, "none") for r in regimes),
                                *((policy_regime, p) for p in (("none", *policies) if policies else ()))]))
    wanted = [(r, p, int(s)) for s in seeds for r, p in cells]
    reference = [(policy_regime, "none", REFERENCE_SEED)] if set(DEPENDENT) & set(policies) else []
    return wanted, list(dict.fromkeys([*reference, *wanted]))


def simulate(cfg: SDCEConfig, seeds: Sequence[int], out: Path, *, regimes: Sequence[str] = (),
             policies: Sequence[str] = (), subsidy: float | None = None, policy_regime: str = "pmir",
             workers: int | None = None, on_progress: Callable[[int, int], None] | None = None,
             force: bool = False) -> pd.DataFrame:
    """Run (or resume) the runs Tables III and V need; returns them, one row per (regime, policy, seed).

    Table III: each regime in `regimes` without a policy. Table V: each policy in `policies` on `policy_regime`,
    the subsidy at `subsidy` (s*; the CLI resolves it as `sdce run --subsidy optimal` does), the cap and the
    transfer from the reference run (REFERENCE_SEED). The `unregulated` run of every seed is always made (it is the
    base of Q (rel.)). `workers` processes (default: all cores; 1 runs in
    this process). `on_progress(done, total)` is called as runs finish, counting runs found already done. The
    folder is claimed first (`claim_tables_folder`; `force` clears one of another configuration).
    """
    unknown = sorted(set(regimes) - set(REGIMES)) + sorted({policy_regime} - set(REGIMES))
    if unknown:
        raise ConfigError(f"unknown regime(s) {', '.join(unknown)}; choose from {', '.join(REGIMES)}")
    unknown = sorted(set(policies) - set(TABLE5_POLICIES))
    if unknown:
        raise ConfigError(f"unknown policy(ies) {', '.join(unknown)}; choose from {', '.join(TABLE5_POLICIES)}")
    if not seeds:
        raise ConfigError("give at least one seed")
    if "subsidy" in policies and (subsidy is None or not subsidy >= 0):
        raise ConfigError(f"the subsidy level must be a number >= 0, got {subsidy!r}")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    table5 = {"table5.regime": policy_regime, "table5.subsidy": subsidy, "table5.cap_fraction": CAP_FRACTION,
              "table5.transfer_fraction": TRANSFER_FRACTION} if policies else {}
    out = Path(out)
    claim_tables_folder(out, cfg, table5, force)
    base = _neutral(cfg)

    wanted, needed = planned_runs(seeds, regimes, policies, policy_regime)
    log = out / "runs.csv"
    done = {(r, p, int(s)) for r, p, s in _read_log(log)[["regime", "policy", "seed"]].itertuples(index=False)}
    todo = [key for key in needed if key not in done]
    progress = on_progress or (lambda done, total: None)
    progress(len(needed) - len(todo), len(needed))
    if todo:
        _execute(base, todo, log, workers, subsidy, len(needed) - len(todo), len(needed), progress)
    runs = _read_log(log)
    keys = pd.MultiIndex.from_tuples(wanted, names=["regime", "policy", "seed"])
    return runs.set_index(["regime", "policy", "seed"]).loc[keys].reset_index()


def _level(policy: str, subsidy: float | None, reference: Mapping | None) -> float:
    if policy == "subsidy":
        return float(subsidy)
    if policy == "royalty-cap":
        return CAP_FRACTION * float(reference["price"])
    if policy == "transfer":
        return TRANSFER_FRACTION * float(reference["payment"])
    return 0.0


_FIELD = {"subsidy": "subsidy", "royalty-cap": "royalty_cap", "transfer": "transfer"}


def _execute(base: SDCEConfig, todo: list[tuple[str, str, int]], log: Path, workers: int, subsidy: float | None,
             done: int, total: int, progress: Callable[[int, int], None]) -> None:
    """Run `todo`, appending each finished run to `log`; the cap and the transfer wait for the reference run."""
    rows = {(row["regime"], row["policy"], int(row["seed"])): row for row in _read_log(log).to_dict("records")}
    waiting = [k for k in todo if k[1] in DEPENDENT]
    ready = [k for k in todo if k not in waiting]

    def job(key):
        regime, policy, seed = key
        level = _level(policy, subsidy, rows.get((regime, "none", REFERENCE_SEED)))
        cfg = base.replace(regime=regime, policy=policy, **({_FIELD[policy]: level} if policy in _FIELD else {}))
        return cfg, seed, level

    def finish(key, level, outcomes):
        nonlocal done
        row = {"regime": key[0], "policy": key[1], "seed": key[2], "level": level, **outcomes}
        rows[key] = row
        write_log(log, pd.DataFrame(list(rows.values()), columns=LOG_COLUMNS))
        done += 1
        progress(done, total)

    def released():
        out = [k for k in waiting if (k[0], "none", REFERENCE_SEED) in rows]
        for k in out:
            waiting.remove(k)
        return out

    ready += released()
    if workers == 1:
        while ready:
            key = ready.pop(0)
            cfg, seed, level = job(key)
            finish(key, level, _run(cfg, seed))
            ready += released()
        return
    futures: dict[Future, tuple] = {}
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_single_threaded_xla) as pool:
        try:
            while ready or futures:
                for key in ready:
                    cfg, seed, level = job(key)
                    futures[pool.submit(_run, cfg, seed)] = (key, level)
                ready = []
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    key, level = futures.pop(future)
                    finish(key, level, future.result())
                ready = released()
        except BaseException:
            for future in futures:
                future.cancel()
            raise

# -- per-seed metrics, summaries, orderings --------------------------------------------------------------------
