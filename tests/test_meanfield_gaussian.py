"""The chain with very many samples follows the deterministic mean-field maps; the JAX and NumPy paths agree."""

import jax.numpy as jnp
import numpy as np
import pytest

from meanfield import gaussian_trajectory
from sdce.collapse import collapse_chain, make_collapse_config
from sdce.dataworld.learning import geometric_mixture, ou_flow


def test_mle_chain_follows_moment_map_and_its_fixed_point():
    rho, tau, d = 0.6, 0.8, 2
    means, covs = gaussian_trajectory(jnp.zeros(d), jnp.eye(d), jnp.zeros(d), jnp.eye(d), rho, tau, 12)
    traces = np.trace(np.asarray(covs), axis1=1, axis2=2)
    # fixed point of cov = (1 - rho) I + rho tau cov
    assert traces[-1] == pytest.approx(d * (1 - rho) / (1 - rho * tau), rel=1e-3)
    n = 20_000
    chain = collapse_chain(make_collapse_config(rho=rho, tau=tau, samples=n, generations=12, reps=16, dim=d))
    # finite-sample bias is O(1/n); the spread is O(n^-1/2): allow 4 standard errors (pooled over generations,
    # since 16 reps estimate one generation's se poorly) plus 2 d/n
    se = float(np.mean(chain["cov_trace_se"]))
    for t in range(13):
        assert chain["cov_trace"][t] == pytest.approx(traces[t], abs=4 * se + 2 * d / n)


def test_wgf_jax_and_numpy_paths_agree():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    cov0 = a @ a.T + 0.5 * np.eye(3)
    mean0 = rng.normal(size=3)
    m_np, p_np = geometric_mixture(np.zeros(3), np.eye(3), mean0, 0.8 * cov0, 0.4)
    m_jx, p_jx = geometric_mixture(jnp.zeros(3), jnp.eye(3), jnp.asarray(mean0), 0.8 * jnp.asarray(cov0), 0.4)
    np.testing.assert_allclose(m_np, m_jx, rtol=1e-4)
    mean_np, cov_np = ou_flow(mean0, cov0, m_np, p_np, 0.7)
    mean_jx, cov_jx = ou_flow(jnp.asarray(mean0), jnp.asarray(cov0), m_jx, p_jx, 0.7)
    np.testing.assert_allclose(mean_np, mean_jx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cov_np, cov_jx, rtol=1e-4, atol=1e-5)


def test_exact_limit_at_tau_one_returns_to_p():
    """docs/model.md §9: run to convergence at tau = 1 the flow of V gives q_t ∝ p^(1-rho^t) q_0^(rho^t) → p."""
    means, covs = gaussian_trajectory(jnp.array([2.0, -1.0]), 3.0 * jnp.eye(2), jnp.zeros(2), jnp.eye(2), 0.7,
                                      1.0, 40, rule="wgf")
    np.testing.assert_allclose(np.asarray(means[-1]), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(covs[-1]), np.eye(2), atol=1e-4)
    # the precision after t steps is (1 - rho^t) I + rho^t / 3 I
    t = 5
    assert float(1 / covs[t][0, 0]) == pytest.approx((1 - 0.7**t) + 0.7**t / 3.0, rel=1e-4)
