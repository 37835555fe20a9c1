"""Gaussian-mixture distributions of the data world (docs/model.md §2): p, the trainers' models q_j and the public q̄.

A Gaussian is a mixture with one component, so the `gaussian` and `gmm` families share one representation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdce.xp import array_namespace, logsumexp

COV_RIDGE = 1e-6  # added to every fitted covariance so that a fit from few samples stays positive definite


@dataclass(frozen=True)
class Mixture:
    """Weights (K,), means (K, d), covariances (K, d, d)."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def is_gaussian(self) -> bool:
        return self.weights.shape[0] == 1

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Overall mean and covariance of the mixture."""
        return mixture_moments(self.weights, self.means, self.covs)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log q(x) at points x (n, d)."""
        return mixture_log_density(self.weights, self.means, self.covs, x)


def mixture_moments(weights, means, covs, tau=1.0):
    """Mean and covariance of Σ_k w_k N(m_k, tau C_k): the moment projection of a (tempered) mixture (NumPy or
    JAX arrays)."""
    xp = array_namespace(weights, means, covs)
    mean = weights @ means
    centred = means - mean
    cov = tau * xp.einsum("k,kij->ij", weights, covs) + xp.einsum("k,ki,kj->ij", weights, centred, centred)
    return mean, cov


def component_log_densities(weights, means, covs, x):
    """log w_k + log N(x; m_k, C_k) at points x (n, d), shape (K, n) (NumPy or JAX arrays)."""
    xp = array_namespace(weights, means, covs, x)
    diff = x[None] - means[:, None]  # (K, n, d)
    maha = xp.einsum("kni,kij,knj->kn", diff, xp.linalg.inv(covs), diff)
    logdet = xp.linalg.slogdet(covs)[1]
    d = means.shape[1]
    return xp.log(weights)[:, None] - 0.5 * (maha + logdet[:, None] + d * xp.log(2 * xp.pi))


def mixture_log_density(weights, means, covs, x):
    """log Σ_k w_k N(x; m_k, C_k) at points x (n, d) (NumPy or JAX arrays)."""
    xp = array_namespace(weights, means, covs, x)
    return logsumexp(xp, component_log_densities(weights, means, covs, x), axis=0)


def randomized_round(x, rng: np.random.Generator) -> np.ndarray:
    """floor(x) + Bernoulli(frac(x)), elementwise: integers with expectation x (docs/model.md §2)."""
    base = np.floor(x)
    return (base + (rng.random(np.shape(x)) < x - base)).astype(int)


def gaussian(mean: np.ndarray, cov: np.ndarray) -> Mixture:
    return Mixture(np.ones(1), np.asarray(mean, float)[None], np.asarray(cov, float)[None])


def human_distribution(dim: int, kind: str, modes: int, radius: float, scale: float) -> Mixture:
    """p: N(0, I_d) by default, or `modes` equal-weight modes on a circle of `radius` in the first two coordinates."""
    if kind == "gaussian":
        return gaussian(np.zeros(dim), np.eye(dim))
    angles = 2 * np.pi * np.arange(modes) / modes
    means = np.zeros((modes, dim))
    means[:, 0] = radius * np.cos(angles)
    if dim > 1:
        means[:, 1] = radius * np.sin(angles)
    covs = np.repeat((scale**2 * np.eye(dim))[None], modes, axis=0)
    return Mixture(np.full(modes, 1.0 / modes), means, covs)


def temper(q: Mixture, tau: float) -> Mixture:
    """Sampling at temperature tau (docs/model.md §2): covariances x tau, weights proportional to w^(1/tau)."""
    logw = np.log(q.weights) / tau
    w = np.exp(logw - logw.max())
    return Mixture(w / w.sum(), q.means, q.covs * tau)


def combine(models: list[Mixture], shares: np.ndarray) -> Mixture:
    """The public model q̄: the trainers' models mixed by their output shares."""
    shares = np.asarray(shares, float) / np.sum(shares)
    return Mixture(
        np.concatenate([s * m.weights for s, m in zip(shares, models)]),
        np.concatenate([m.means for m in models]),
        np.concatenate([m.covs for m in models]),
    )


def sample(q: Mixture, n: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. draws from q, shape (n, d)."""
    counts = rng.multinomial(n, q.weights)
    chol = np.linalg.cholesky(q.covs)
    z = rng.standard_normal((n, q.dim))
    comp = np.repeat(np.arange(q.weights.shape[0]), counts)
    return q.means[comp] + np.einsum("nij,nj->ni", chol[comp], z)


def fit_gaussian(x: np.ndarray) -> Mixture:
    """Maximum-likelihood Gaussian (mean and biased covariance), plus the ridge."""
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / x.shape[0] + COV_RIDGE * np.eye(x.shape[1])
    return gaussian(mean, cov)


def fit_gmm(x: np.ndarray, components: int, iterations: int, rng: np.random.Generator,
            init: Mixture | None = None) -> Mixture:
    """Maximum-likelihood K-component mixture by EM, warm-started from `init` when it has K components."""
    n, d = x.shape
    if init is None or init.weights.shape[0] != components:
        centres = x[rng.choice(n, size=components, replace=n < components)]
        cov = np.cov(x.T, bias=True).reshape(d, d) + COV_RIDGE * np.eye(d)
        init = Mixture(np.full(components, 1.0 / components), centres, np.repeat(cov[None], components, axis=0))
    q = init
    for _ in range(iterations):
        lc = component_log_densities(q.weights, q.means, q.covs, x).T
        resp = np.exp(lc - lc.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        nk = resp.sum(axis=0) + 1e-12
        means = (resp.T @ x) / nk[:, None]
        diff = x[None] - means[:, None]
        covs = np.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None] + COV_RIDGE * np.eye(d)
        q = Mixture(nk / nk.sum(), means, covs)  # nk / n would sum to 1 + K 1e-12 / n: above 1 for a lone component
    return q
