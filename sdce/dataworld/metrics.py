"""Fidelity and drift of a model from p (docs/model.md §2): KL(q‖p) and W2(q, p).

KL is closed form between Gaussians and Monte Carlo otherwise. W2 is the closed-form Bures distance between
Gaussians, and on a held-out probe the debiased Sinkhorn divergence of ott-jax with an absolute epsilon.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sdce.dataworld.mixture import Mixture, sample
from sdce.errors import SinkhornNotConverged
from sdce.xp import array_namespace


def kl_gaussian(m1, s1, m2, s2):
    """KL(N(m1, s1) ‖ N(m2, s2)) = ½[tr(s2⁻¹s1) + (m2-m1)ᵀs2⁻¹(m2-m1) - d + log det s2 - log det s1]; batched."""
    xp = array_namespace(m1, s1, m2, s2)
    d = m1.shape[-1]
    s2inv = xp.linalg.inv(s2)
    diff = m2 - m1
    trace = xp.trace(s2inv @ s1, axis1=-2, axis2=-1)
    maha = xp.einsum("...i,...ij,...j->...", diff, s2inv, diff)
    logdet = xp.linalg.slogdet(s2)[1] - xp.linalg.slogdet(s1)[1]
    return 0.5 * (trace + maha - d + logdet)


def sqrtm_psd(s):
    """Symmetric square root of a positive semi-definite matrix (batched) by eigendecomposition."""
    xp = array_namespace(s)
    vals, vecs = xp.linalg.eigh(s)
    return (vecs * xp.sqrt(xp.clip(vals, 0.0, None))[..., None, :]) @ xp.swapaxes(vecs, -1, -2)


BURES_ITERATIONS = 30  # coupled Newton-Schulz steps: converged to float32 for condition numbers up to ~1e6


def bures_trace(s1, s2):
    """tr (s1^½ s2 s1^½)^½ of positive definite s1, s2 (batched): the coupled Newton-Schulz iteration for the square
    root of C = Lᵀ s2 L (s1 = L Lᵀ, so C has the eigenvalues of s1 s2), scaled by its Frobenius norm. A fixed number
    of matrix products, so differentiable to any order, also where eigenvalues coincide (eigh's derivative is not)."""
    xp = array_namespace(s1, s2)
    low = xp.linalg.cholesky(s1)
    c = xp.swapaxes(low, -1, -2) @ s2 @ low
    norm = xp.sqrt(xp.sum(c * c, axis=(-2, -1)))[..., None, None]
    eye = xp.eye(c.shape[-1], dtype=c.dtype)
    y, z = c / norm, eye + 0 * c
    for _ in range(BURES_ITERATIONS):
        t = 0.5 * (3.0 * eye - z @ y)
        y, z = y @ t, t @ z
    return xp.trace(y, axis1=-2, axis2=-1) * xp.sqrt(norm[..., 0, 0])


def w2_squared_bures(m1, s1, m2, s2):
    """W2² between Gaussians of positive definite covariances: ‖m1-m2‖² + tr s1 + tr s2 − 2 `bures_trace`(s1, s2)
    (batched over leading axes; differentiable to any order)."""
    xp = array_namespace(m1, s1, m2, s2)
    return (xp.sum((m1 - m2) ** 2, axis=-1) + xp.trace(s1, axis1=-2, axis2=-1) + xp.trace(s2, axis1=-2, axis2=-1)
            - 2.0 * bures_trace(s1, s2))


def w2_gaussian(m1, s1, m2, s2):
    """Bures-Wasserstein W2 between Gaussians: ‖m1-m2‖² + tr(s1 + s2 - 2 (s2^½ s1 s2^½)^½), square-rooted."""
    xp = array_namespace(m1, s1, m2, s2)
    r2 = sqrtm_psd(s2)
    cross = sqrtm_psd(r2 @ s1 @ r2)
    trace = xp.trace(s1 + s2 - 2 * cross, axis1=-2, axis2=-1)
    return xp.sqrt(xp.clip(xp.sum((m1 - m2) ** 2, axis=-1) + trace, 0.0, None))


def kl_divergence(q: Mixture, p: Mixture, rng: np.random.Generator, n_mc: int) -> float:
    """KL(q‖p): closed form when both are Gaussian, else the Monte-Carlo mean of log q - log p over n_mc draws of q."""
    if q.is_gaussian and p.is_gaussian:
        return float(kl_gaussian(q.means[0], q.covs[0], p.means[0], p.covs[0]))
    x = sample(q, n_mc, rng)
    return float(np.mean(q.log_density(x) - p.log_density(x)))



SINKHORN_THRESHOLD = 1e-3
SINKHORN_MAX_ITERATIONS = 5000


@lru_cache(maxsize=None)
def _sinkhorn_w2_squared():
    import jax
    import jax.numpy as jnp
    from ott.tools.sinkhorn_divergence import sinkdiv

    @jax.jit
    def solve(x, y, epsilon):
        div, out = sinkdiv(
            x, y, epsilon=epsilon,
            solve_kwargs={"threshold": SINKHORN_THRESHOLD, "max_iterations": SINKHORN_MAX_ITERATIONS},
        )
        return div, jnp.all(jnp.asarray(out.converged))

    return solve


def w2_probe_floor(p: Mixture, probe: np.ndarray, rng: np.random.Generator, epsilon: float) -> float:
    """The W2 probe's noise floor: `w2_sinkhorn` between the probe and a fresh sample of p of its size, the value a
    model equal to p would score (docs/model.md §10)."""
    return w2_sinkhorn(probe, sample(p, len(probe), rng), epsilon)


def w2_sinkhorn(x: np.ndarray, y: np.ndarray, epsilon: float) -> float:
    """W2 between two point clouds from the debiased Sinkhorn divergence (ott-jax, cost ‖x-y‖², absolute epsilon).

    The divergence S_eps estimates W2²; its square root is returned. A solve that does not converge raises.
    """
    div, converged = _sinkhorn_w2_squared()(np.asarray(x, np.float32), np.asarray(y, np.float32), float(epsilon))
    if not bool(converged):
        raise SinkhornNotConverged(
            f"ott-jax Sinkhorn did not reach threshold {SINKHORN_THRESHOLD} in {SINKHORN_MAX_ITERATIONS} iterations "
            f"at epsilon={epsilon}; raise sinkhorn_epsilon"
        )
    return float(np.sqrt(max(float(div), 0.0)))
