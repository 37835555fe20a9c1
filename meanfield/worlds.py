"""The generative distribution in the N → ∞ limit (docs/model.md §2, §9): how trainers' models evolve when their
samples are infinitely many.

Trainer j's data in generation t are the mixture (1 - rho_j) p + rho_j s_{t-1}, with rho_j its synthetic share and
s_{t-1} the synthetic source: each trainer's model at temperature tau, mixed by output share. Two representations:

- `GaussianWorld`: the Gaussian family in closed form (docs/model.md §9). `mle` is the moment projection of the data
  mixture; `wgf` is the Ornstein-Uhlenbeck flow towards p̂^(1-rho) q̂^rho, p̂ and q̂ the Gaussian projections of p
  and of the source (what the ABM's fits tend to). p may be a Gaussian mixture; KL is by Gauss-Hermite.
- `GridWorld`: densities on a grid (docs/model.md §9), no family: `mle` is the data mixture itself and `wgf` is the
  finite-volume flow (8)-(9) towards p^(1-rho) s^rho.

Both keep, under `data_mode = accumulate`, the pooled human and synthetic volumes so far, as the ABM's pools do.
A world is a set of pure functions of JAX pytrees; `meanfield.market` calls them inside `jit`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from meanfield import grid as grid_solver
from meanfield.gaussian import kl_mixture, mle_moment_map
from sdce.dataworld.learning import geometric_mixture, ou_flow
from sdce.dataworld.metrics import w2_gaussian
from sdce.dataworld.mixture import mixture_moments


class GaussianModels(NamedTuple):
    means: jax.Array  # (M, d)
    covs: jax.Array  # (M, d, d)
    human_volume: jax.Array  # (M,) pooled human volume (accumulate)
    synthetic_volume: jax.Array  # (M,) pooled synthetic volume (accumulate)
    synthetic_mean: jax.Array  # (M, d) pooled first moment of the synthetic data
    synthetic_second: jax.Array  # (M, d, d) pooled second moment of the synthetic data


class GaussianWorld:
    """Gaussian family; p = (weights, means, covs) of a Gaussian mixture."""

    @staticmethod
    def first(p, human_volume):
        """Generation 0: every trainer fits human data only, so q_j is the Gaussian projection of p."""
        mean, cov = mixture_moments(*p)
        m = human_volume.shape[0]
        return GaussianModels(jnp.tile(mean, (m, 1)), jnp.tile(cov, (m, 1, 1)), human_volume,
                              jnp.zeros(m), jnp.zeros((m, mean.shape[0])), jnp.zeros((m,) + cov.shape))

    @staticmethod
    def retrain(models: GaussianModels, p, shares, human, synthetic, *, rule: str, data_mode: str, tau: float,
                train_time: float) -> GaussianModels:
        """One generation from data (1 - rho_j) p + rho_j s, with volumes `human`, `synthetic` (M,)."""
        p_mean, p_cov = mixture_moments(*p)
        s_mean, s_cov = mixture_moments(shares, models.means, models.covs, tau)
        s_second = s_cov + jnp.outer(s_mean, s_mean)
        if data_mode == "accumulate":
            h_vol = models.human_volume + human
            s_vol = models.synthetic_volume + synthetic
            s1 = models.synthetic_mean + synthetic[:, None] * s_mean
            s2 = models.synthetic_second + synthetic[:, None, None] * s_second
        else:
            h_vol, s_vol = human, synthetic
            s1, s2 = synthetic[:, None] * s_mean, synthetic[:, None, None] * s_second
        rho = s_vol / jnp.maximum(h_vol + s_vol, 1e-30)
        safe = jnp.maximum(s_vol, 1e-30)[:, None]
        q_mean = jnp.where(s_vol[:, None] > 0, s1 / safe, p_mean)
        q_cov = jnp.where(s_vol[:, None, None] > 0, s2 / safe[..., None] - jnp.einsum("ki,kj->kij", q_mean, q_mean),
                          p_cov)
        if rule == "mle":
            means, covs = jax.vmap(mle_moment_map, in_axes=(0, 0, None, None, 0, None))(q_mean, q_cov, p_mean,
                                                                                          p_cov, rho, 1.0)
        else:
            target_mean, target_prec = jax.vmap(geometric_mixture, in_axes=(None, None, 0, 0, 0))(
                p_mean, p_cov, q_mean, q_cov, rho)
            means, covs = jax.vmap(ou_flow, in_axes=(0, 0, 0, 0, None))(models.means, models.covs, target_mean,
                                                                       target_prec, train_time)
        return GaussianModels(means, covs, h_vol, s_vol, s1, s2)

    @staticmethod
    def fidelity(models: GaussianModels, p):
        """D_j = KL(q_j‖p)."""
        one = jnp.ones(1)
        return jax.vmap(lambda m, c: kl_mixture((one, m[None], c[None]), p))(models.means, models.covs)

    @staticmethod
    def public(models: GaussianModels, shares):
        """q̄: the trainers' models mixed by output share, as (weights, means, covs)."""
        return shares, models.means, models.covs

    @staticmethod
    def public_kl(models: GaussianModels, shares, p):
        return kl_mixture(GaussianWorld.public(models, shares), p)

    @staticmethod
    def public_w2_moments(models: GaussianModels, shares, p):
        """Bures W2 between the Gaussian projections of q̄ and p."""
        return w2_gaussian(*mixture_moments(shares, models.means, models.covs), *mixture_moments(*p))


class GridModels(NamedTuple):
    masses: jax.Array  # (M, *grid shape)
    human_volume: jax.Array  # (M,)
    synthetic_volume: jax.Array  # (M,)
    synthetic: jax.Array  # (M, *grid shape) pooled synthetic mass (volume-weighted)


def _grid_world(spec: grid_solver.GridSpec):
    """The grid world on `spec`; p is given by its cell masses."""

    class GridWorld:
        grid = spec

        @staticmethod
        def first(p, human_volume):
            m = human_volume.shape[0]
            return GridModels(jnp.broadcast_to(p, (m,) + p.shape), human_volume, jnp.zeros(m),
                              jnp.zeros((m,) + p.shape))

        @staticmethod
        def retrain(models: GridModels, p, shares, human, synthetic, *, rule: str, data_mode: str, tau: float,
                    train_time: float) -> GridModels:
            source = jnp.einsum("k,k...->...", shares, jax.vmap(grid_solver.temper, in_axes=(0, None))(
                models.masses, tau))
            if data_mode == "accumulate":
                h_vol = models.human_volume + human
                s_vol = models.synthetic_volume + synthetic
                pooled = models.synthetic + synthetic.reshape((-1,) + (1,) * p.ndim) * source
            else:
                h_vol, s_vol = human, synthetic
                pooled = synthetic.reshape((-1,) + (1,) * p.ndim) * source
            rho = s_vol / jnp.maximum(h_vol + s_vol, 1e-30)
            shape = (-1,) + (1,) * p.ndim
            q_hat = jnp.where(s_vol.reshape(shape) > 0, pooled / jnp.maximum(s_vol, 1e-30).reshape(shape), p)
            masses = jax.vmap(
                lambda q_prev, src, r: grid_solver.retrain(q_prev, jnp.log(p), src, r, rule, train_time, spec)
            )(models.masses, q_hat, rho)
            return GridModels(masses, h_vol, s_vol, pooled)

        @staticmethod
        def fidelity(models: GridModels, p):
            return jax.vmap(grid_solver.kl, in_axes=(0, None))(models.masses, p)

        @staticmethod
        def public(models: GridModels, shares):
            return jnp.einsum("k,k...->...", shares, models.masses)

        @staticmethod
        def public_kl(models: GridModels, shares, p):
            return grid_solver.kl(GridWorld.public(models, shares), p)

        @staticmethod
        def public_w2_moments(models: GridModels, shares, p):
            mean, cov = grid_solver.moments(GridWorld.public(models, shares), spec)
            p_mean, p_cov = grid_solver.moments(p, spec)
            return w2_gaussian(mean, cov, p_mean, p_cov)

    return GridWorld


_GRID_WORLDS: dict = {}


def grid_world(spec: grid_solver.GridSpec):
    """The (cached, so that `jit` sees one static object per grid) grid world on `spec`."""
    if spec not in _GRID_WORLDS:
        _GRID_WORLDS[spec] = _grid_world(spec)
    return _GRID_WORLDS[spec]

