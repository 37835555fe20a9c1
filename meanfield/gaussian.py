"""The N → ∞ Gaussian closed forms of the generative distribution (docs/model.md §9), in JAX.

With infinitely many samples a trainer's data are the arithmetic mixture (1 - rho) p + rho q̃_{t-1}, where q̃ is
q_{t-1} at temperature tau. The `mle` rule projects that mixture on the Gaussian family (moment matching); the `wgf`
rule flows q_{t-1} towards pi ∝ p^(1-rho) q̃^rho (Theorem 3, eq. 8-9). The flow formulas are the ones the ABM's
trainers use (`sdce.dataworld.learning`), called here on JAX arrays.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from sdce.dataworld.learning import geometric_mixture, ou_flow
from sdce.dataworld.mixture import mixture_log_density


def mle_moment_map(mean, cov, mean_p, cov_p, rho, tau):
    """Moments of (1 - rho) N(mean_p, cov_p) + rho N(mean, tau cov): the MLE limit of one refit."""
    gap = mean - mean_p
    new_mean = (1 - rho) * mean_p + rho * mean
    new_cov = (1 - rho) * cov_p + rho * tau * cov + rho * (1 - rho) * jnp.outer(gap, gap)
    return new_mean, new_cov


def wgf_map(mean, cov, mean_p, cov_p, rho, tau, train_time):
    """The Wasserstein gradient flow (8) of V (9) from q_{t-1} for `train_time`, towards p^(1-rho) q̃^rho."""
    target_mean, target_precision = geometric_mixture(mean_p, cov_p, mean, tau * cov, rho)
    return ou_flow(mean, cov, target_mean, target_precision, train_time)


@partial(jax.jit, static_argnames=("generations", "rule", "train_time"))
def gaussian_trajectory(mean0, cov0, mean_p, cov_p, rho, tau, generations: int, rule: str = "mle",
                        train_time: float = float("inf")):
    """Means (G+1, d) and covariances (G+1, d, d) of the deterministic chain from (mean0, cov0) at fixed rho."""

    def step(state, _):
        mean, cov = state
        if rule == "mle":
            new = mle_moment_map(mean, cov, mean_p, cov_p, rho, tau)
        else:
            new = wgf_map(mean, cov, mean_p, cov_p, rho, tau, train_time)
        return new, new

    _, (means, covs) = jax.lax.scan(step, (mean0, cov0), None, length=generations)
    return jnp.concatenate([mean0[None], means]), jnp.concatenate([cov0[None], covs])


def hermite_nodes(dim: int):
    """Tensor Gauss-Hermite rule for N(0, I_dim): nodes (n, dim) and weights (n,), exact for polynomials of degree
    2k-1 per coordinate (k = 8 nodes per axis for d <= 2, fewer above so that the rule stays small)."""
    k = 8 if dim <= 2 else 5 if dim == 3 else 3
    x, w = np.polynomial.hermite_e.hermegauss(k)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    weights = np.prod(np.meshgrid(*([w / w.sum()] * dim), indexing="ij"), axis=0)
    return jnp.asarray(np.stack([g.ravel() for g in grids], 1)), jnp.asarray(weights.ravel())


def kl_mixture(q, p):
    """KL(q‖p) = E_q[log q - log p] for Gaussian mixtures q, p = (weights, means, covs), by Gauss-Hermite on each
    component of q: exact when q and p are Gaussian, deterministic otherwise."""
    wq, mq, cq = q
    nodes, node_w = hermite_nodes(mq.shape[1])
    points = mq[:, None] + jnp.einsum("kij,nj->kni", jnp.linalg.cholesky(cq), nodes)  # (K, n, d)
    flat = points.reshape(-1, mq.shape[1])
    gap = mixture_log_density(wq, mq, cq, flat) - mixture_log_density(*p, flat)
    return jnp.sum(wq[:, None] * node_w[None] * gap.reshape(points.shape[:2]))
