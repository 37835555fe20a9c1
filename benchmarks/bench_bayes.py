"""Speed of the Bayesian calibration (`sdce calibrate bayes`) on the recovery problem: what one NUTS gradient costs
against one forward pass, and the wall time of the whole run.

    python benchmarks/bench_bayes.py [--chains 4] [--draws 500] [--warmup 500] [--type-nodes 32]

The recovery problem is the test's (tests/test_bayes.py) at the configuration's type grid: temperature and kappa_q
from the four `unregulated` moments of a 3-generation market at temperature 0.7, kappa_q 3.5, se 1%. Times, after a
warm-up call that compiles: the moments (the forward pass, the baseline) and the gradient of the log likelihood
through the custom VJP (the forward-mode Jacobian, what each leapfrog step calls; the ratio is the cost of the
derivative). Then the whole sampler: wall time, gradient evaluations (leapfrog steps) and the time per evaluation,
with R-hat and bulk ESS.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from timing import best_time

from calibration.bayes import az, bayes_calibration, forward_jacobian_moments
from calibration.moment_map import MomentMap
from calibration.targets import Target, model_moments
from sdce.config import make_config

TRUTH = {"temperature": 0.7, "kappa_q": 3.5}
MOMENTS = ["rho_T:unregulated", "quality_T:unregulated", "welfare_T:unregulated", "w2_T:unregulated"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--type-nodes", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].platform}")
    cfg = make_config(n_producers=64, n_trainers=4, generations=3)
    values = model_moments(cfg.replace(**TRUTH), MOMENTS, args.type_nodes)
    targets = [Target(n, float(values[n]), max(0.01 * abs(float(values[n])), 1e-3)) for n in MOMENTS]
    names = tuple(TRUTH)
    moment_map = MomentMap(cfg, MOMENTS, names, args.type_nodes)
    theta = jnp.asarray([0.75, 4.0], jnp.float32)
    jax.block_until_ready(moment_map(theta))
    forward = best_time(lambda: moment_map(theta), args.repeats)
    moments = forward_jacobian_moments(moment_map)
    target, se = jnp.asarray([t.value for t in targets]), jnp.asarray([t.se for t in targets])
    gradient = jax.jit(jax.grad(lambda t: -0.5 * jnp.sum(((moments(t)[0] - target) / se) ** 2)))
    jax.block_until_ready(gradient(theta))
    backward = best_time(lambda: gradient(theta), args.repeats)
    print(f"moments (forward pass): {forward * 1e3:.2f} ms; gradient by the custom VJP: {backward * 1e3:.2f} ms "
          f"(ratio {backward / forward:.2f} x forward)")

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        summary = bayes_calibration(cfg, targets, names, Path(folder), chains=args.chains, draws=args.draws,
                                    warmup=args.warmup, ordering_draws=0, type_nodes=args.type_nodes)
        wall = time.perf_counter() - start
        steps = int(az.from_netcdf(Path(folder) / "posterior.nc").sample_stats["n_steps"].values.sum())
    print(f"NUTS {args.chains} chains x ({args.warmup} warmup + {args.draws} draws): {wall:.1f} s wall; "
          f"{steps} leapfrog steps kept ({wall / max(steps, 1) * 1e3:.2f} ms each, compile included); "
          f"{summary['divergences']} divergences")
    for name, row in summary["params"].items():
        print(f"  {name}: mean {row['mean']:.4f} (truth {TRUTH[name]}), 90% HDI [{row['hdi_5']:.4f}, "
              f"{row['hdi_95']:.4f}], R-hat {row['r_hat']:.4f}, ESS bulk {row['ess_bulk']:.0f}")


if __name__ == "__main__":
    main()
