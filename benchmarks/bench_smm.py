"""Speed of the structural fit (`sdce calibrate smm --targets paper`): what one evaluation costs and how many a fit
takes.

    python benchmarks/bench_smm.py [--repeats 3] [--starts 2] [--type-nodes 32]

Times, after a warm-up call that compiles (compile times printed separately): the paper's fitted moments at Table I
(the forward pass, the baseline), the residuals with their Jacobian by forward mode (what the optimiser calls; the
ratio to the forward pass is the cost of the derivative, against P + 1 = 5 for naive finite differences), and the
whole fit from `starts` starts with its evaluations per start.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from timing import best_time

from calibration.moment_map import MomentMap
from calibration.parameters import DEFAULT_PARAMS, config_values, to_unconstrained
from calibration.smm import _Residuals, check_smm, smm_fit
from calibration.targets import paper_targets
from sdce.config import make_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--type-nodes", type=int, default=32)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].platform}")
    cfg, targets = make_config(), paper_targets()
    fitted, _ = check_smm(targets, DEFAULT_PARAMS, args.starts)
    moment_map = MomentMap(cfg, [t.moment for t in fitted], DEFAULT_PARAMS, args.type_nodes)
    theta = jnp.asarray(config_values(cfg, DEFAULT_PARAMS), jnp.float32)
    start = time.perf_counter()
    jax.block_until_ready(moment_map(theta))
    compile_forward = time.perf_counter() - start
    forward = best_time(lambda: moment_map(theta), args.repeats)

    residuals = _Residuals(moment_map, DEFAULT_PARAMS, np.array([t.value for t in fitted]),
                           np.array([t.se for t in fitted]), None)
    u = to_unconstrained(config_values(cfg, DEFAULT_PARAMS), DEFAULT_PARAMS)
    start = time.perf_counter()
    jax.block_until_ready(residuals._both(jnp.asarray(u, jnp.float32)))
    compile_jacobian = time.perf_counter() - start
    jacobian = best_time(lambda: residuals._both(jnp.asarray(u, jnp.float32)), args.repeats)
    print(f"{len(fitted)} fitted moments, {len(DEFAULT_PARAMS)} parameters, {args.type_nodes} type nodes")
    print(f"forward pass (moments):         {forward:.3f} s   (compile {compile_forward:.1f} s)")
    print(f"residuals + Jacobian (jacfwd):  {jacobian:.3f} s   (compile {compile_jacobian:.1f} s)   "
          f"ratio {jacobian / forward:.2f} x forward")

    count = [0]
    start = time.perf_counter()
    fit = smm_fit(cfg, targets, DEFAULT_PARAMS, starts=args.starts, type_nodes=args.type_nodes,
                  on_evaluation=lambda: count.__setitem__(0, count[0] + 1))
    wall = time.perf_counter() - start
    print(f"fit from {args.starts} start(s): {wall:.1f} s wall, {count[0]} evaluations "
          f"({fit.iterations} by start), converged {fit.start_converged}, J = {fit.loss:.5g}")


if __name__ == "__main__":
    main()
