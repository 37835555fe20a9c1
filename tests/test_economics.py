"""The pure economic functions against independent references: naive loops, brute force, scipy, finite differences."""

import numpy as np
import pytest
from scipy.optimize import minimize

from sdce.economics.contamination import contamination_ratio
from sdce.economics.demand import bundle_demand, bundle_objective
from sdce.economics.payments import (
    shapley_marginal_revenue,
    shapley_payments,
    statutory_marginal_revenue,
)
from sdce.economics.producers import provenance_best_response, unit_cost
from sdce.economics.signals import detectability, perceived_provenance, signal_variance

rng = np.random.default_rng(0)


def test_contamination_ratio_eq1():
    h = np.array([1.0, 2.0, 0.0, 1.0])
    phi = np.array([1.0, 0.5, 0.3, 0.0])
    assert contamination_ratio(h, phi) == pytest.approx(1 - (1 + 1) / 4)
    assert contamination_ratio(np.zeros(3), phi[:3]) == 0.0


def test_shapley_equals_naive_leave_one_out():
    n, m, volume = 7, 3, 7.0
    b = rng.uniform(0.1, 1.0, (n, m))
    phi = rng.uniform(0, 1, n)
    z, collapse = rng.uniform(0.5, 1.5, m), rng.uniform(0.5, 1.0, m)
    gamma, delta = 0.23, 0.07
    money = rng.uniform(0.5, 2.0, m)

    def q(j, keep):
        h = sum(b[i, j] * phi[i] for i in keep)
        s = sum(b[i, j] * (1 - phi[i]) for i in keep)
        return z[j] * (h / volume) ** gamma * (s / volume) ** delta * collapse[j]

    naive = np.array([[money[j] * (q(j, range(n)) - q(j, [k for k in range(n) if k != i])) for j in range(m)]
                      for i in range(n)])
    np.testing.assert_allclose(shapley_payments(b, phi, volume, z, gamma, delta, collapse, money), naive,
                               rtol=1e-12)
    assert np.all(naive > 0)


def test_shapley_marginal_revenue_is_the_derivative_of_payments():
    n, m, volume = 6, 2, 6.0
    b, phi = rng.uniform(0.2, 1.0, (n, m)), rng.uniform(0.1, 0.9, n)
    z, collapse, money, cap = np.ones(m), np.ones(m), np.array([1.0, 2.0]), np.full(n, 1.0)
    gamma, delta = 0.25, 0.05
    h = (b * phi[:, None]).sum(0)
    s = (b * (1 - phi)[:, None]).sum(0)
    quality = z * (h / volume) ** gamma * (s / volume) ** delta
    analytic = shapley_marginal_revenue(b, phi, volume, quality, gamma, delta, money, cap)
    eps = 1e-6
    for i in range(n):
        up, dn = phi.copy(), phi.copy()
        up[i] += eps
        dn[i] -= eps
        fd = (shapley_payments(b, up, volume, z, gamma, delta, collapse, money)[i].sum()
              - shapley_payments(b, dn, volume, z, gamma, delta, collapse, money)[i].sum()) / (2 * eps)
        assert analytic[i] == pytest.approx(fd, rel=1e-5)


def _demand_case(n=40, m=3, temp=0.01, price=0.02):
    phi_t = rng.uniform(0, 1, (n, m))
    prices = np.full(n, price) * rng.uniform(0.5, 1.5, n)
    cap = rng.uniform(0.5, 1.5, n)
    scale = rng.uniform(0.5, 2.0, m) * cap.sum() / m
    return dict(phi_tilde=phi_t, prices=prices, capacity=cap, scale=scale, gamma=0.23, delta=0.06, temp=temp,
                subsidy=0.0, volume=float(cap.sum()))


@pytest.mark.parametrize("temp,price", [(0.01, 0.02), (0.002, 0.05), (0.05, 0.0)])
def test_bundle_is_optimal_against_random_feasible_perturbations(temp, price):
    case = _demand_case(temp=temp, price=price)
    demand = bundle_demand(**case)
    b = demand.bundles
    assert np.all(b >= 0) and np.all(b <= case["capacity"][:, None] + 1e-15)
    best = bundle_objective(b, **{k: v for k, v in case.items()})
    cap = case["capacity"][:, None]
    for scale in (1e-1, 1e-2, 1e-3):
        for _ in range(200):
            trial = np.clip(b + scale * cap * rng.standard_normal(b.shape), 1e-12, cap)
            assert np.all(bundle_objective(trial, **case) <= best + 1e-10)


def test_bundle_matches_scipy_box_constrained_optimum():
    case = _demand_case(n=8, m=1, temp=0.01, price=0.03)
    demand = bundle_demand(**case)
    cap = case["capacity"]

    def neg(x):
        return -bundle_objective(x[:, None], **case)[0]

    res = minimize(neg, x0=0.5 * cap, bounds=[(1e-12, c) for c in cap], method="L-BFGS-B",
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    np.testing.assert_allclose(demand.bundles[:, 0], res.x, atol=1e-5)
    assert -res.fun <= bundle_objective(demand.bundles, **case)[0] + 1e-12


def test_statutory_marginal_revenue_is_the_derivative_of_expected_demand():
    """E_e[r Σ_j db_ij/dphi_i]: a finite difference of the expected royalty income, the expectation over the signal
    noise taken by an independent fine trapezoid rule, at the trainers' aggregates held fixed."""
    n, m, temp, royalty, sd = 12, 3, 0.004, 0.03, 0.3
    phi = np.linspace(0.05, 0.95, n)
    mu, w = rng.uniform(0.3, 0.7, m), rng.uniform(0.3, 0.9, m)
    a, c = rng.uniform(0.02, 0.06, m), rng.uniform(0.0, 0.02, m)
    prices, cap = np.full(n, royalty), rng.uniform(0.5, 1.5, n)
    analytic = statutory_marginal_revenue(phi, mu, w, sd, a, c, prices, temp, royalty)
    x = np.linspace(-8, 8, 64001)  # an independent quadrature of the noise: trapezoid on the normal density
    wt = np.exp(-0.5 * x**2)
    wt = wt / wt.sum()

    def income(f):
        tilde = np.clip(mu[None, :, None] + w[None, :, None] * (f[:, None, None] + sd * x - mu[None, :, None]), 0, 1)
        b = cap[:, None, None] * np.minimum(1, np.exp((a[None, :, None] * tilde + c[None, :, None] * (1 - tilde)
                                                       - royalty) / temp))
        return royalty * (b * wt).sum(axis=(1, 2))

    eps = 1e-5
    fd = (income(phi + eps) - income(phi - eps)) / (2 * eps) / cap
    np.testing.assert_allclose(analytic, fd, rtol=1e-3)
    assert np.abs(fd).min() > 0.01  # the case is not degenerate: demand responds to provenance


def test_provenance_best_response_against_brute_force():
    grid = np.linspace(0, 1, 200_001)
    for r, nu, phibar in [(0.0, 0.2, 0.9), (0.3, 0.5, 0.9), (2.0, 0.1, 0.7), (0.1, 0.45, 0.6)]:
        payoff = (r + nu) * grid - unit_cost(grid, 0.05, 0.5, 1.0)
        payoff[grid > phibar] = -np.inf
        assert provenance_best_response(r, nu, phibar, 0.5, 1.0) == pytest.approx(grid[np.argmax(payoff)], abs=1e-5)


def test_signals_detectability_and_shrinkage():
    assert detectability(0.5, 0.0) == 0.5 and detectability(0.5, 50.0) == pytest.approx(1.0)
    assert signal_variance(0.3, 1.0) == 0.0
    phi = rng.uniform(0, 1, (20_000, 1))
    noise = signal_variance(0.3, 0.5)
    est, _, w = perceived_provenance(phi + np.sqrt(noise) * rng.standard_normal(phi.shape), noise)
    assert w[0] == pytest.approx((1 / 12) / (1 / 12 + noise), abs=0.02)  # var U(0,1) = 1/12
    assert np.all((est >= 0) & (est <= 1))
    exact, _, w1 = perceived_provenance(phi, 0.0)
    np.testing.assert_array_equal(exact, phi)
    assert w1[0] == 1.0
