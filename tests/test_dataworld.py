"""The data world against closed forms and independent implementations (ott-jax's Gaussian, large samples)."""

import jax.numpy as jnp
import numpy as np
import pytest
from ott.tools.gaussian_mixture.gaussian import Gaussian
from scipy.linalg import sqrtm

from sdce.dataworld.metrics import kl_divergence, kl_gaussian, w2_gaussian, w2_sinkhorn
from sdce.dataworld.mixture import (
    Mixture,
    combine,
    fit_gmm,
    gaussian,
    human_distribution,
    randomized_round,
    sample,
    temper,
)


def test_tempering_scales_covariance_and_sharpens_weights():
    rng = np.random.default_rng(0)
    q = Mixture(np.array([0.7, 0.3]), np.array([[-2.0, 0.0], [2.0, 0.0]]), np.repeat(np.eye(2)[None], 2, 0))
    t = temper(q, 0.5)
    np.testing.assert_allclose(t.weights, np.array([0.49, 0.09]) / 0.58)
    np.testing.assert_allclose(t.covs, 0.5 * q.covs)
    x = sample(temper(gaussian(np.zeros(2), np.eye(2)), 0.8), 200_000, rng)
    np.testing.assert_allclose(np.cov(x.T), 0.8 * np.eye(2), atol=0.01)  # se of a variance ~ 0.8·sqrt(2/n) = 0.0025


def test_public_model_mixes_by_output_share_and_moments():
    a, b = gaussian(np.array([1.0]), np.eye(1)), gaussian(np.array([-1.0]), 4 * np.eye(1))
    q = combine([a, b], np.array([3.0, 1.0]))
    np.testing.assert_allclose(q.weights, [0.75, 0.25])
    mean, cov = q.moments()
    assert mean[0] == pytest.approx(0.5)
    assert cov[0, 0] == pytest.approx(0.75 * 1 + 0.25 * 4 + 0.75 * 0.25 * 4)  # law of total variance


def test_em_recovers_a_known_mixture():
    rng = np.random.default_rng(1)
    p = human_distribution(2, "gmm", 3, 3.0, 0.5)
    fit = fit_gmm(sample(p, 6000, rng), 3, 100, rng)
    order = [int(np.argmin(np.linalg.norm(fit.means - m, axis=1))) for m in p.means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(fit.means[order], p.means, atol=0.05)
    np.testing.assert_allclose(fit.weights[order], p.weights, atol=0.03)


def test_kl_monte_carlo_agrees_with_closed_form():
    rng = np.random.default_rng(2)
    q = gaussian(np.array([0.3, -0.2]), np.array([[0.6, 0.1], [0.1, 0.9]]))
    p = gaussian(np.zeros(2), np.eye(2))
    exact = kl_divergence(q, p, rng, 10)
    as_mixture = Mixture(np.array([0.5, 0.5]), np.repeat(q.means, 2, 0), np.repeat(q.covs, 2, 0))
    mc = kl_divergence(as_mixture, p, rng, 200_000)
    assert mc == pytest.approx(exact, abs=0.01)
    assert kl_gaussian(p.means[0], p.covs[0], p.means[0], p.covs[0]) == pytest.approx(0.0, abs=1e-12)


def test_bures_against_ott_gaussian():
    rng = np.random.default_rng(3)
    for _ in range(5):
        a, b = rng.normal(size=(2, 3, 3))
        s1, s2 = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
        m1, m2 = rng.normal(size=(2, 3))
        ours = w2_gaussian(m1, s1, m2, s2)
        ref = Gaussian.from_mean_and_cov(jnp.asarray(m1), jnp.asarray(s1)).w2_dist(
            Gaussian.from_mean_and_cov(jnp.asarray(m2), jnp.asarray(s2)))  # ott returns W2 squared
        assert ours**2 == pytest.approx(float(ref), rel=1e-2)  # ott-jax runs in float32
        r2 = sqrtm(s2)
        exact = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(r2 @ s1 @ r2)))
        assert ours**2 == pytest.approx(exact, rel=1e-9)


def test_sinkhorn_w2_on_samples_approaches_bures():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1500, 2)) * 0.6
    y = rng.normal(size=(1500, 2)) + np.array([0.5, 0.0])
    exact = float(w2_gaussian(np.zeros(2), 0.36 * np.eye(2), np.array([0.5, 0.0]), np.eye(2)))
    assert w2_sinkhorn(x, y, 0.01) == pytest.approx(exact, abs=0.06)  # finite-sample bias in d=2 ~ n^-1/2


def test_randomized_rounding_is_unbiased():
    rng = np.random.default_rng(5)
    draws = randomized_round(np.full(100_000, 2.3), rng)
    assert set(np.unique(draws)) == {2, 3}
    assert draws.mean() == pytest.approx(2.3, abs=0.006)  # se = sqrt(0.21/1e5) = 0.0014
