"""W2 between grid densities (docs/model.md §9) and weighted clouds, through ott-jax; and the exact 1-D W2.

W2² is estimated by the debiased Sinkhorn divergence S_eps(a, b) = OT_eps(a, b) - ½ OT_eps(a, a) - ½ OT_eps(b, b)
(Feydy et al. 2019) with an absolute epsilon; for grid densities with ott-jax's separable `Grid` geometry (cost
‖x - y‖², no ½, applied one axis at a time in log space: n^(d+1) operations per kernel application). S_eps is
not W2² (OT_eps alone would be biased by O(eps log 1/eps)); its bias is O(eps²) for smooth densities. With
eps ≳ h² the entropic blur sees the grid masses as a smooth density, so S_eps estimates the W2 of the
piecewise-constant density (`w2_1d`'s default), not that of atoms at the cell centres, which is larger by O(h²)
in W2². Measured at the defaults (tests/test_meanfield_grid.py): within 2-3e-4 of the Bures W2 for unit-scale
Gaussians in 2-D (128 and 64 cells per axis on [-6, 6]²), and within 7e-4 of the exact 1-D W2 for two-mode
mixtures. S_eps is a float32 difference of O(1) terms, so W2 below ~3e-4 (S_eps ~ 1e-7) is noise. A solve that
does not converge, or returns a non-finite value, raises `SinkhornNotConverged`; no number is returned for it.

Note (ott-jax 0.6): `Grid.apply_lse_kernel` adds the potential f before each per-axis log-sum-exp and subtracts it
after, which is wrong where f = -inf, i.e. at cells of zero mass: the kernel is then mis-applied along whole rows
and Sinkhorn stalls far from its threshold (seen on mixtures whose far tails underflow to 0 in float32; the
unconverged values were off by up to 0.4 in W2). `w2_grid` therefore floors masses at MASS_FLOOR = 1e-30 (total
added mass < 1e-25) before solving.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from meanfield.grid import MASS_FLOOR, GridSpec
from sdce.errors import SinkhornNotConverged
from sdce.xp import array_namespace

# eps = 0.1 is an entropic blur of sqrt(eps) ≈ 0.32, 3.4 cells of h = 0.094 at 128 cells on [-6, 6]: its bias is
# ≤ 7e-4 in W2 on the tests' Gaussians and mixtures (above); plain Sinkhorn takes 130-490 iterations on them. A
# smaller eps barely moves these numbers (bias at eps = 0.01: 1-3e-4) but costs ~1/eps iterations.
W2_EPSILON = 0.1
W2_THRESHOLD = 1e-4  # L1 error of the coupling's marginals at which ott stops
W2_MAX_ITERATIONS = 5000
# Over-relaxed Sinkhorn (Thibault et al. 2021; ott's constant `Momentum`) for the (a, b) solve: same fixed point,
# ~2.8x fewer iterations on random 2-D mixtures (values equal to 1e-6). A pair it fails on is re-solved without.
W2_MOMENTUM = 1.5


def _converged(out) -> jax.Array:
    return jnp.all(jnp.stack([jnp.asarray(c) for c in out.converged]))


@partial(jax.jit, static_argnames=("grid", "threshold", "max_iterations", "batch_size", "momentum"))
def w2_grid_squared(a, b, grid: GridSpec, epsilon: float = W2_EPSILON, threshold: float = W2_THRESHOLD,
                    max_iterations: int = W2_MAX_ITERATIONS, batch_size: int | None = None,
                    momentum: float | None = W2_MOMENTUM):
    """Debiased Sinkhorn divergence S_eps(a, b) on the grid and whether all three ott solves converged.

    a, b: masses of shape `grid.shape`, or with one leading batch axis (B, *shape) each. batch_size None: all
    pairs vmapped at once (a vmapped solve iterates until its slowest pair converges); 1: one pair after another
    (`lax.map`, a scan); k > 1: `lax.map` over vmapped chunks of k. Returns (divergence, converged), scalars or
    (B,). No convergence check here: see `w2_grid`.
    """
    from ott.geometry.grid import Grid
    from ott.solvers.linear.acceleration import Momentum
    from ott.tools.sinkhorn_divergence import sinkhorn_divergence

    axes = [jnp.asarray(x) for x in grid.axes]
    solve_kwargs = {"threshold": threshold, "max_iterations": max_iterations}
    if momentum is not None:
        solve_kwargs["momentum"] = Momentum(value=momentum)

    def one(a, b):
        a, b = (jnp.maximum(jnp.ravel(w) / jnp.sum(w), MASS_FLOOR) for w in (a, b))  # no empty cells: see the note
        div, out = sinkhorn_divergence(
            Grid, x=axes, a=a / jnp.sum(a), b=b / jnp.sum(b), epsilon=epsilon, solve_kwargs=solve_kwargs,
        )
        return div, _converged(out) & jnp.isfinite(div)

    if a.ndim == grid.dim:
        return one(a, b)
    if batch_size is None:
        return jax.vmap(one)(a, b)
    return jax.lax.map(lambda ab: one(*ab), (a, b), batch_size=batch_size if batch_size > 1 else None)


def _raise_unless_converged(converged, epsilon, threshold, max_iterations):
    if not bool(np.all(np.asarray(converged))):
        raise SinkhornNotConverged(
            f"ott-jax Sinkhorn did not reach threshold {threshold} in {max_iterations} iterations (or returned a "
            f"non-finite divergence) at epsilon={epsilon}; raise epsilon or max_iterations"
        )


def w2_grid(a, b, grid: GridSpec, epsilon: float = W2_EPSILON, *, threshold: float = W2_THRESHOLD,
            max_iterations: int = W2_MAX_ITERATIONS, batch_size: int | None = None):
    """W2 between two densities on the same grid: sqrt of the debiased Sinkhorn divergence (ott `Grid`, absolute eps).

    a, b: masses (*shape) or batches (B, *shape). Returns a float, or a (B,) NumPy array. Solved with
    over-relaxation (W2_MOMENTUM), and again without where that does not converge; raises `SinkhornNotConverged`
    if a solve then still misses its threshold within max_iterations or returns a non-finite value.
    batch_size: see `w2_grid_squared`; by default 1 on CPU (4 pairs at 128² took 3.5 s one after another and 14 s
    vmapped on 2 cores) and all pairs vmapped at once on an accelerator.
    """
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    if batch_size is None and jax.default_backend() == "cpu":
        batch_size = 1
    args = (a, b, grid, float(epsilon), float(threshold), int(max_iterations), batch_size)
    div, converged = w2_grid_squared(*args, momentum=W2_MOMENTUM)
    if not bool(np.all(np.asarray(converged))):  # over-relaxation failed somewhere: plain Sinkhorn for the batch
        div, converged = w2_grid_squared(*args, momentum=None)
    _raise_unless_converged(converged, epsilon, threshold, max_iterations)
    w2 = np.sqrt(np.clip(np.asarray(div, np.float64), 0.0, None))
    return float(w2) if w2.ndim == 0 else w2


@partial(jax.jit, static_argnames=("threshold", "max_iterations"))
def _cloud_divergence(x, y, a, b, epsilon, threshold, max_iterations):
    from ott.tools.sinkhorn_divergence import sinkdiv

    div, out = sinkdiv(x, y, a=a / jnp.sum(a), b=b / jnp.sum(b), epsilon=epsilon,
                       solve_kwargs={"threshold": threshold, "max_iterations": max_iterations})
    return div, _converged(out) & jnp.isfinite(div)


def w2_cloud(x, y, epsilon: float, a=None, b=None, *, threshold: float = W2_THRESHOLD,
             max_iterations: int = W2_MAX_ITERATIONS) -> float:
    """W2 between weighted point clouds (x, a) and (y, b) from the debiased Sinkhorn divergence (cost ‖x-y‖²).

    E.g. a grid density as (grid.points, q.ravel()) against model samples. Uniform weights when a or b is None.
    Raises `SinkhornNotConverged` when a solve does not converge.
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    a = jnp.ones(x.shape[0], jnp.float32) if a is None else jnp.asarray(a, jnp.float32).ravel()
    b = jnp.ones(y.shape[0], jnp.float32) if b is None else jnp.asarray(b, jnp.float32).ravel()
    div, converged = _cloud_divergence(x, y, a, b, float(epsilon), float(threshold), int(max_iterations))
    _raise_unless_converged(converged, epsilon, threshold, max_iterations)
    return float(np.sqrt(max(float(div), 0.0)))


def w2_1d(a, b, grid: GridSpec, *, atoms: bool = False):
    """Exact W2 between two 1-D grid densities from their quantile functions: W2² = ∫_0^1 |Q_a(s) - Q_b(s)|² ds.

    By default each cell's mass is spread uniformly over the cell (a piecewise-constant density, so Q is piecewise
    linear and the integrand is quadratic between the merged CDF breakpoints: Simpson's rule is exact). With
    atoms=True the masses are atoms at the cell centres (Q a step function); that W2² exceeds the continuous one
    by O(h²) (e.g. +h² f(1 - f) for a shift by a non-integer number f of cells). The Sinkhorn divergence at
    eps ≳ h² sees the smooth density, so the default is the reference for `w2_grid`. NumPy (float64 stays
    float64) or JAX.
    """
    if grid.dim != 1:
        raise ValueError(f"w2_1d needs a 1-D grid, got dim={grid.dim}")
    xp = array_namespace(a, b)
    h = grid.spacing
    centres = xp.asarray(grid.axes[0], dtype=a.dtype)

    def cdf(w):
        w = w / xp.sum(w)
        c = xp.cumsum(w)
        return w, xp.concatenate((c[:-1], xp.ones(1, dtype=c.dtype)))

    (wa, ca), (wb, cb) = cdf(a), cdf(b)
    s = xp.concatenate((xp.zeros(1, dtype=ca.dtype), xp.sort(xp.concatenate((ca, cb)))))
    lo, hi = s[:-1], s[1:]
    mid = 0.5 * (lo + hi)

    def quantiles(w, c):
        k = xp.clip(xp.searchsorted(c, mid, side="left"), 0, grid.n - 1)  # the cell holding (lo, hi)
        if atoms:
            return (centres[k],) * 3
        start = c[k] - w[k]
        left = centres[k] - 0.5 * h
        mass = xp.where(w[k] > 0, w[k], 1.0)
        return tuple(left + h * xp.clip((u - start) / mass, 0.0, 1.0) for u in (lo, mid, hi))

    (a0, am, a1), (b0, bm, b1) = quantiles(wa, ca), quantiles(wb, cb)
    w2sq = xp.sum((hi - lo) / 6 * ((a0 - b0) ** 2 + 4 * (am - bm) ** 2 + (a1 - b1) ** 2))
    return xp.sqrt(w2sq)
