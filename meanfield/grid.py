"""The N → ∞ generative distribution on a grid for a general p in d ≤ 2 (docs/model.md §9), in JAX.

A density is held as its cell masses on a regular tensor grid over [-bound, bound]^d: an array of shape (n,) or
(n, n), nonnegative, summing to 1 (the midpoint rule: mass ∝ density at the cell centre). With infinitely many
samples a trainer whose data are a (1 - rho) human / rho synthetic mix sees the arithmetic mixture
(1 - rho) p + rho q̃, q̃ the tempered synthetic source. The nonparametric `mle` limit is that mixture itself; the
`wgf` rule flows q_{t-1} along the Wasserstein gradient flow (8) of V (9), V(q) = KL(q‖pi) + const with
pi ∝ p^(1-rho) q̃^rho (Theorem 3).

The flow ∂_t q = ∇·(q ∇ log(q/pi)) is discretised in space by finite volumes whose generator is a reversible Markov
chain with stationary law pi on the grid (the square-root approximation; its entropy gradient-flow structure is
Maas 2011, "Gradient flows of the entropy for finite Markov chains"), and in time by explicit Euler steps short
enough that each step is a stochastic matrix: masses stay positive, sum to one, and KL(q‖pi) never increases.
For a Gaussian p the chain is validated against the closed forms of `meanfield.gaussian` (docs/model.md §9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from sdce.dataworld.mixture import mixture_log_density
from sdce.xp import array_namespace

CFL = 0.5  # dt × (largest total out-rate of a cell) ≤ CFL: every Euler step is a stochastic matrix
LOG_FLOOR = 60.0  # log pi is floored at max(log pi) - LOG_FLOOR, so that underflowed tails give finite rates
MASS_FLOOR = 1e-30  # masses are floored here before a log (float32 underflows near 1e-38)
LOG_MIN = -1e4  # stands for log 0 where a log mass is combined linearly
MAX_FLOW_STEPS = 2**20  # a flow that needs more Euler steps returns NaN (pi under-resolved by the grid)


@dataclass(frozen=True)
class GridSpec:
    """A regular grid of n cells per axis on [-bound, bound]^dim, dim ∈ {1, 2}; hashable, so a jit static arg."""

    dim: int = 2
    n: int = 128
    bound: float = 6.0

    def __post_init__(self):
        if self.dim not in (1, 2):
            raise ValueError(f"grid dim must be 1 or 2, got {self.dim}")
        if self.n < 2 or not self.bound > 0:
            raise ValueError(f"need n >= 2 and bound > 0, got n={self.n}, bound={self.bound}")

    @property
    def spacing(self) -> float:
        """Cell width h = 2 bound / n."""
        return 2.0 * self.bound / self.n

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of a mass array: (n,) * dim."""
        return (self.n,) * self.dim

    @property
    def axes(self) -> tuple[np.ndarray, ...]:
        """Cell centres along each axis, -bound + h (i + ½), one (n,) float32 array per axis."""
        centres = (-self.bound + self.spacing * (np.arange(self.n) + 0.5)).astype(np.float32)
        return (centres,) * self.dim

    @property
    def points(self) -> np.ndarray:
        """All cell centres, (n^dim, dim), in the C order of `shape` (axis 0 slowest)."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)


def _normalise_log(log_masses):
    return log_masses - logsumexp(log_masses)


def log_masses_from_log_density(grid: GridSpec, log_density_fn):
    """Normalised log cell masses, log f(x_k) - logsumexp_l log f(x_l), from a log-density on (m, d) points."""
    values = jnp.asarray(log_density_fn(jnp.asarray(grid.points)), dtype=jnp.float32)
    return _normalise_log(values.reshape(grid.shape))


def masses_from_log_density(grid: GridSpec, log_density_fn):
    """Cell masses ∝ f(x_k) (midpoint rule), normalised with logsumexp."""
    return jnp.exp(log_masses_from_log_density(grid, log_density_fn))


@partial(jax.jit, static_argnames=("grid",))
def gaussian_mixture_log_masses(grid: GridSpec, weights, means, covs):
    """Normalised log cell masses of Σ_k w_k N(m_k, S_k) (no underflow in the far tails)."""
    weights, means, covs = (jnp.asarray(a, dtype=jnp.float32) for a in (weights, means, covs))
    return log_masses_from_log_density(grid, partial(mixture_log_density, weights, means, covs))


def gaussian_mixture_masses(grid: GridSpec, weights, means, covs):
    """Cell masses of Σ_k w_k N(m_k, S_k); a single Gaussian is weights=[1], means=[m], covs=[S]."""
    return jnp.exp(gaussian_mixture_log_masses(grid, weights, means, covs))


def safe_log(q):
    """log q with q floored at MASS_FLOOR, so empty cells give a large finite negative value, not -inf."""
    return jnp.log(jnp.maximum(q, MASS_FLOOR))


@jax.jit
def temper(q, tau):
    """q at sampling temperature tau: q^(1/tau), renormalised (docs/model.md §2).

    For a Gaussian this is exactly covariance × tau (on the grid too: the cell masses stay a discretised Gaussian).
    For a mixture it differs slightly from the ABM's component-wise rule (`sdce.dataworld.mixture.temper`: component
    covariances × tau, weights ∝ w^(1/tau)): near a mode where one component dominates, q^(1/tau) is that component at
    covariance × tau with weight ∝ w^(1/tau) |S|^((1 - 1/tau)/2), so the two agree for well-separated components of
    equal covariance, and differ in the overlap regions and, for unequal covariances, in the weights.
    """
    return jax.nn.softmax((safe_log(q) / tau).ravel()).reshape(q.shape)


@jax.jit
def geometric_mixture(log_p, log_q, rho):
    """log pi, normalised, for pi ∝ p^(1-rho) q^rho (the minimiser of V, eq. 9).

    -inf inputs (empty cells) are clamped at LOG_MIN, so that rho ∈ {0, 1} gives no 0 × inf.
    """
    log_p, log_q = jnp.maximum(log_p, LOG_MIN), jnp.maximum(log_q, LOG_MIN)
    return _normalise_log((1 - rho) * log_p + rho * log_q)


def _edge_rates(log_pi, axis: int, h: float):
    """Rates of the square-root chain along one axis: i → i+1 at (1/h²) sqrt(pi_{i+1}/pi_i), and back."""
    n = log_pi.shape[axis]
    diff = jax.lax.slice_in_dim(log_pi, 1, n, axis=axis) - jax.lax.slice_in_dim(log_pi, 0, n - 1, axis=axis)
    return jnp.exp(0.5 * diff) / h**2, jnp.exp(-0.5 * diff) / h**2


def _pad_axis(x, axis: int, before: int, after: int):
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return jnp.pad(x, widths)


@partial(jax.jit, static_argnames=("train_time", "grid"))
def fokker_planck_flow(q0, log_target, train_time: float, grid: GridSpec):
    """q after train_time of the flow (8) of V(q) = KL(q‖pi) + const, ∂_t q = ∇·(q ∇ log(q/pi)), pi ∝ e^log_target.

    Finite volumes with no-flux boundaries: the net flux from cell k to a neighbour l is
    (1/h²) sqrt(pi_k pi_l) (q_k/pi_k - q_l/pi_l), i.e. a reversible Markov chain with rates
    r_kl = (1/h²) sqrt(pi_l / pi_k) and stationary law pi (Maas 2011). It is consistent with the Fokker-Planck
    equation to O(h²). Explicit Euler with dt × max_k Σ_l r_kl ≤ CFL = ½ and ceil(train_time / dt) steps, so each
    step is a stochastic matrix with stationary pi: q stays positive, its mass is conserved (renormalised each step
    against float32 drift), and KL(q‖pi) decreases monotonically. log pi is floored LOG_FLOOR below its maximum
    (mass e^-60 per cell, negligible). train_time = inf returns pi itself. Jit-compatible with train_time and grid
    static; the number of steps is traced (a while loop), so it vmaps over targets.

    The cost is ∝ train_time × max rate, and the rates grow like exp(|Δ log pi| / 2) between neighbours: a pi
    that the grid does not resolve (e.g. a model collapsed into a few cells) would need more than MAX_FLOW_STEPS
    steps (at 128 cells on [-6, 6]² and train_time 0.5: neighbours' pi differing by more than ~e^15), and then
    NaN masses are returned rather than a wrong answer.
    """
    if not math.isfinite(train_time):
        return jnp.exp(_normalise_log(log_target))
    if train_time <= 0:
        return q0
    log_pi = log_target - jnp.max(log_target)
    log_pi = jnp.maximum(log_pi, -LOG_FLOOR)
    h = grid.spacing
    rates = [_edge_rates(log_pi, axis, h) for axis in range(grid.dim)]
    out_rate = sum(_pad_axis(fwd, axis, 0, 1) + _pad_axis(bwd, axis, 1, 0) for axis, (fwd, bwd) in enumerate(rates))
    needed = jnp.ceil(train_time * jnp.max(out_rate) / CFL)  # float: may exceed int32
    feasible = needed <= MAX_FLOW_STEPS
    n_steps = jnp.where(feasible, needed, 1.0).astype(jnp.int32)
    dt = train_time / n_steps

    def step(_, q):
        change = jnp.zeros_like(q)
        for axis, (fwd, bwd) in enumerate(rates):
            n = q.shape[axis]
            flux = fwd * jax.lax.slice_in_dim(q, 0, n - 1, axis=axis) - bwd * jax.lax.slice_in_dim(q, 1, n, axis=axis)
            change = change - _pad_axis(flux, axis, 0, 1) + _pad_axis(flux, axis, 1, 0)
        q = q + dt * change
        return q / jnp.sum(q)

    return jnp.where(feasible, jax.lax.fori_loop(0, n_steps, step, q0), jnp.nan)


def kl(q, p):
    """KL(q‖p) = Σ_k q_k log(q_k / p_k) on the grid, with 0 log 0 = 0 (inf where p = 0 < q). NumPy or JAX."""
    xp = array_namespace(q, p)
    pos = q > 0
    return xp.sum(xp.where(pos, q * (xp.log(xp.where(pos, q, 1.0)) - xp.log(xp.where(pos, p, 1.0))), 0.0))


def moments(q, grid: GridSpec):
    """Mean (d,) and covariance (d, d) of the cell masses q (atoms at the cell centres). NumPy or JAX."""
    xp = array_namespace(q)
    pts = xp.asarray(grid.points, dtype=q.dtype)
    w = xp.reshape(q, (-1,)) / xp.sum(q)
    mean = w @ pts
    centred = pts - mean
    return mean, (centred * w[:, None]).T @ centred


def potential(q, log_p, log_prev, rho):
    """V(q; rho) = (1-rho) KL(q‖p) + rho KL(q‖q_prev) (eq. 9) from normalised log masses; = KL(q‖pi) - log Z.

    q_prev is the synthetic source (q_{t-1} at temperature tau). NumPy or JAX.
    """
    xp = array_namespace(q, log_p, log_prev)
    pos = q > 0
    log_q = xp.log(xp.where(pos, q, 1.0))
    return xp.sum(xp.where(pos, q * (log_q - (1 - rho) * log_p - rho * log_prev), 0.0))


def _retrain_one(q_prev, log_p, source, rho, rule: str, train_time: float, grid: GridSpec):
    if rule == "mle":
        return (1 - rho) * jnp.exp(log_p) + rho * source
    if rule == "wgf":
        return fokker_planck_flow(q_prev, geometric_mixture(log_p, safe_log(source), rho), train_time, grid)
    raise ValueError(f"unknown learning rule {rule!r}; expected 'mle' or 'wgf'")


@partial(jax.jit, static_argnames=("rule", "train_time", "grid"))
def retrain(q_prev, log_p, source, rho, rule: str, train_time: float, grid: GridSpec):
    """One generation of the N → ∞ learning rule for a trainer whose data are (1-rho) human, rho synthetic.

    `log_p` are the normalised log masses of p and `source` the masses of the (already tempered) synthetic source.
    `mle` (nonparametric limit): (1-rho) p + rho source. `wgf`: q_prev flowed for train_time towards
    pi ∝ p^(1-rho) source^rho (eq. 8-9). Trainers vmap: q_prev may carry a leading axis (M, *shape), with rho (M,)
    or scalar and source (M, *shape) or shared (*shape).
    """
    if q_prev.ndim == grid.dim:
        return _retrain_one(q_prev, log_p, source, rho, rule, train_time, grid)
    rho = jnp.asarray(rho, dtype=q_prev.dtype)
    in_axes = (0, None, 0 if source.ndim == q_prev.ndim else None, 0 if rho.ndim == 1 else None)
    one = partial(_retrain_one, rule=rule, train_time=train_time, grid=grid)
    return jax.vmap(one, in_axes=in_axes)(q_prev, log_p, source, rho)


@partial(jax.jit, static_argnames=("generations", "rule", "train_time", "grid"))
def grid_trajectory(q0, log_p, rho, tau, generations: int, rule: str = "wgf", train_time: float = float("inf"),
                    grid: GridSpec = GridSpec()):
    """Masses (G+1, *shape) of the deterministic chain from q0 at fixed rho, source = temper(q_{t-1}, tau)."""

    def step(q, _):
        new = _retrain_one(q, log_p, temper(q, tau), rho, rule, train_time, grid)
        return new, new

    _, qs = jax.lax.scan(step, q0, None, length=generations)
    return jnp.concatenate([q0[None], qs])
