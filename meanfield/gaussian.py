"""The N → ∞ Gaussian closed forms of the generative distribution (MODEL.md §9(a)), in JAX.

With infinitely many samples a trainer's data are the arithmetic mixture (1 - rho) p + rho q̃_{t-1}, where q̃ is
q_{t-1} at temperature tau. The `mle` rule projects that mixture on the Gaussian family (moment matching); the `wgf`
rule flows q_{t-1} towards pi ∝ p^(1-rho) q̃^rho (Theorem 3, eq. 8-9). The flow formulas are the ones the ABM's
trainers use (`sdce.dataworld.learning`), called here on JAX arrays.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from sdce.dataworld.learning import geometric_mixture, ou_flow


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
