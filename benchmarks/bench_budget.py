"""The time budget's lower bounds (`sdce.budget`) beside measured runs: each bound must stay below the time it
bounds, or the budget would refuse jobs that fit.

    python benchmarks/bench_budget.py

Times one job of each kind (after a warm-up of the same shape, so JAX compilation is excluded, which only makes the
measured time smaller) and prints measured / bound; a ratio below 1 means the bound is wrong on this machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sdce.budget import abm_need, collapse_need, meanfield_need, retrain_need, theorem5_need
from sdce.collapse import collapse_chain, make_collapse_config
from sdce.config import REGIMES, make_config
from sdce.experiments.theorem5 import estimator_variance
from sdce_abm.model import SDCEModel
from meanfield.solve import solve_meanfield
from calibration.retrain.loop import make_retrain_config, run_retraining


def measured(job, warm: bool = True) -> float:
    if warm:
        job()
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def retrain_job(cfg):
    def job():
        with tempfile.TemporaryDirectory() as folder:
            run_retraining(cfg, Path(folder))
    return job


def main() -> None:
    rows = []
    for n, m, t in ((1024, 4, 4), (8192, 16, 2)):
        for regime in REGIMES:
            run = lambda: SDCEModel(seed=0, regime=regime, n_producers=n, n_trainers=m, generations=t).run_model()  # noqa: E731
            rows.append((f"ABM {regime} N={n} M={m} T={t}", measured(run), abm_need(n, m, t).seconds))
    for regime in ("unregulated", "statutory"):
        cfg = make_config(regime=regime, generations=40)
        rows.append((f"mean field {regime} T=40", measured(lambda: solve_meanfield(cfg, "gaussian")),
                     meanfield_need(40).seconds))
    chain = make_collapse_config(samples=10000, generations=20, reps=10)
    rows.append(("collapse n=10000 G=20 reps=10", measured(lambda: collapse_chain(chain)),
                 collapse_need(10000, 1, 20, 10, False).seconds))
    rows.append(("theorem5 reps=2000 N=1024 T<=64", measured(lambda: estimator_variance(
        make_config(), (1, 4, 16, 64), 2000, 0)), theorem5_need(2000, 1024, 64).seconds))
    retrain = make_retrain_config(domain="text", rhos=(0.5,), generations=2, seeds=1, size="tiny")
    rows.append(("retrain text tiny T=2", measured(retrain_job(retrain)), retrain_need(1, 1, 2, "tiny").seconds))
    print(f"{'job':>40} {'measured s':>11} {'bound s':>9} {'measured/bound':>15}")
    for name, seconds, bound in rows:
        print(f"{name:>40} {seconds:11.3f} {bound:9.3f} {seconds / bound:15.2f}")


if __name__ == "__main__":
    main()
