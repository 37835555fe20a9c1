"""Learning rules of a trainer's generative model (docs/model.md §2): `mle` refits and the `wgf` flow of Theorem 3.

For the Gaussian family the Wasserstein gradient flow (8) of V(q) = (1-rho) KL(q‖p̂) + rho KL(q‖q̂) is the
Ornstein-Uhlenbeck process towards the geometric mixture pi ∝ p̂^(1-rho) q̂^rho, whose mean and covariance have a
closed form. The formulas are written once (NumPy or JAX) and are reused by the mean-field solver.
"""

from __future__ import annotations

import math

import numpy as np

from sdce.dataworld.mixture import Mixture, fit_gaussian, fit_gmm, gaussian
from sdce.xp import array_namespace


def geometric_mixture(mean_p, cov_p, mean_q, cov_q, rho):
    """pi ∝ N(mean_p, cov_p)^(1-rho) N(mean_q, cov_q)^rho: precision (1-rho)P_p + rho P_q, precision-weighted mean."""
    xp = array_namespace(mean_p, cov_p, mean_q, cov_q, rho)
    prec_p, prec_q = xp.linalg.inv(cov_p), xp.linalg.inv(cov_q)
    precision = (1 - rho) * prec_p + rho * prec_q
    rhs = (1 - rho) * (prec_p @ mean_p) + rho * (prec_q @ mean_q)
    return xp.linalg.solve(precision, rhs), precision


def ou_flow(mean0, cov0, target_mean, target_precision, t):
    """Gaussian solution at time t of dX = -P(X - m)dt + √2 dW, the W2 gradient flow of KL(·‖N(m, P⁻¹)).

    mean_t = m + E(mean0 - m), cov_t = E cov0 E + P⁻¹(I - E²), with E = exp(-P t); t = inf gives N(m, P⁻¹).
    """
    xp = array_namespace(mean0, cov0, target_mean, target_precision)
    vals, vecs = xp.linalg.eigh(target_precision)
    decay = xp.exp(-vals * t) if math.isfinite(t) else xp.zeros_like(vals)
    expm = (vecs * decay) @ vecs.T
    mean = target_mean + expm @ (mean0 - target_mean)
    cov = expm @ cov0 @ expm + (vecs * ((1 - decay**2) / vals)) @ vecs.T
    return mean, 0.5 * (cov + cov.T)


def fit_family(x: np.ndarray, family: str, components: int, em_iterations: int, rng: np.random.Generator,
               init: Mixture | None = None) -> Mixture:
    """Maximum-likelihood fit in the model family."""
    if family == "gaussian":
        return fit_gaussian(x)
    return fit_gmm(x, components, em_iterations, rng, init)


def update_model(previous: Mixture | None, human: np.ndarray, synthetic: np.ndarray, *, family: str,
                 components: int, em_iterations: int, rule: str, train_time: float,
                 rng: np.random.Generator) -> Mixture:
    """The trainer's next model from its human and synthetic samples (docs/model.md §2, `learning_rule`).

    `mle` (and any first fit) fits the pooled samples, keeping `previous` when there are d or fewer. `wgf` moves
    `previous` along the flow of V with p̂, q̂ the family fits to the human and synthetic parts and rhô the synthetic
    share; a part with d or fewer samples is left out, and with neither part fittable `previous` is kept.
    """
    d = human.shape[1]
    if rule == "mle" or previous is None:
        pooled = np.concatenate([human, synthetic])
        if pooled.shape[0] > d:
            return fit_family(pooled, family, components, em_iterations, rng, previous)
        if previous is None:
            raise ValueError(f"cannot fit a first model from {pooled.shape[0]} samples in d={d}")
        return previous
    parts = [(fit_gaussian(x), x.shape[0]) for x in (human, synthetic) if x.shape[0] > d]
    if not parts:
        return previous
    if len(parts) == 1:
        (target, _), = parts
        mean_t, prec_t = target.means[0], np.linalg.inv(target.covs[0])
    else:
        (p_hat, n_h), (q_hat, n_s) = parts
        rho_hat = n_s / (n_h + n_s)
        mean_t, prec_t = geometric_mixture(p_hat.means[0], p_hat.covs[0], q_hat.means[0], q_hat.covs[0], rho_hat)
    return gaussian(*ou_flow(previous.means[0], previous.covs[0], mean_t, prec_t, train_time))
