"""Speed of the mean-field level, and the reason it exists: the continuum market against the ABM at N = 16384.

    python benchmarks/bench_meanfield.py [--repeats 3] [--seeds 4]

Times (best of `repeats`, after a warm-up that compiles): the Gaussian closed-form chain (T = 10); the continuum
market per regime (Table I, T = 10); the 2-D grid flow (8)-(9) at 128×128 for T = 10 with train_time = 1; the
debiased Sinkhorn W2 between two 4096-point clouds; and one ABM run at N = 16384. "Same accuracy": the ABM's
error to the limit at N = 16384 (max_t |rho_t - rho_t^MF| and relative Q error, median over `seeds`) beside the
continuum's own quadrature error (32 against 64 quantiles per type dimension). The ratio is ABM time / MF time.
"""

from __future__ import annotations

import argparse
import time

import jax
from timing import best_time
import jax.numpy as jnp
import numpy as np

from meanfield.gaussian import gaussian_trajectory
from meanfield.grid import GridSpec, gaussian_mixture_masses, grid_trajectory
from meanfield.market import economy, gaussian_p, trajectory
from meanfield.solve import solve_meanfield
from meanfield.transport import w2_cloud
from meanfield.worlds import GaussianWorld
from sdce.config import REGIMES, make_config
from sdce_abm.model import SDCEModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].platform}")
    eye, zero = jnp.eye(2), jnp.zeros(2)
    t = best_time(lambda: gaussian_trajectory(zero + 0.3, 2 * eye, zero, eye, 0.6, 0.8, 10, "mle"), args.repeats)
    print(f"Gaussian closed-form chain, T=10: {t * 1e3:.3f} ms")

    spec = GridSpec(dim=2, n=128, bound=6.0)
    p = gaussian_mixture_masses(spec, jnp.ones(1), jnp.zeros((1, 2)), jnp.eye(2)[None])
    q0 = gaussian_mixture_masses(spec, jnp.ones(1), jnp.full((1, 2), 0.5), 2 * jnp.eye(2)[None])
    t = best_time(lambda: grid_trajectory(q0, jnp.log(p), 0.6, 0.8, 10, "wgf", 1.0, spec), args.repeats)
    print(f"2-D grid flow (8)-(9), 128x128, T=10, train_time=1: {t:.3f} s")

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4096, 2)), rng.normal(size=(4096, 2)) * 1.2
    t = best_time(lambda: w2_cloud(x, y, 0.05), args.repeats)
    print(f"W2 (debiased Sinkhorn, eps=0.05) between two 4096-point clouds: {t:.3f} s")

    print(f"\n{'regime':>12} {'MF ms':>8} {'ABM N=16384 s':>14} {'ratio':>8} {'MF quad. err rho':>17} "
          f"{'ABM err rho':>12} {'MF quad. err Q':>15} {'ABM err Q':>10}")
    for regime in REGIMES:
        cfg = make_config(regime=regime)
        econ = economy(cfg, gaussian_p(cfg))
        t_mf = best_time(lambda: trajectory(econ, cfg, GaussianWorld, "mle", cfg.generations), args.repeats)
        limit, fine = solve_meanfield(cfg), solve_meanfield(cfg, type_nodes=64)
        quad_rho = np.max(np.abs(limit["rho"] - fine["rho"]))
        quad_q = np.max(np.abs(limit["quality"] - fine["quality"]) / fine["quality"])
        errors, t_abm = [], []
        for seed in range(args.seeds):
            start = time.perf_counter()
            model = SDCEModel(config=cfg.replace(n_producers=16384), seed=seed)
            frame_rho, frame_q = [model.rho], [model.mean_quality]
            while model.running:
                model.step()
                frame_rho.append(model.rho)
                frame_q.append(model.mean_quality)
            t_abm.append(time.perf_counter() - start)
            errors.append((np.max(np.abs(np.array(frame_rho) - fine["rho"])),
                           np.max(np.abs(np.array(frame_q) - fine["quality"]) / fine["quality"])))
        err_rho, err_q = np.median(errors, axis=0)
        best_abm = min(t_abm)
        print(f"{regime:>12} {t_mf * 1e3:>8.2f} {best_abm:>14.2f} {best_abm / t_mf:>8.0f} {quad_rho:>17.1e} "
              f"{err_rho:>12.1e} {quad_q:>15.1e} {err_q:>10.1e}")


if __name__ == "__main__":
    main()
