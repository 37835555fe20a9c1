"""The continuum market (docs/model.md §9): its quadrature, its conservation laws, the SDCE and Proposition 1, and the
ABM converging to it as N grows."""

import numpy as np
import pytest

from meanfield.equilibrium import quality_curve, solve_equilibrium, stationary_fidelity
from meanfield.harness import compare
from meanfield.solve import solve_meanfield
from sdce.config import make_config
from sdce.economics.demand import expected_logit_demand, logit_demand
from sdce.economics.payments import shapley_marginal_payments, shapley_payments, statutory_marginal_revenue
from sdce.economics.technology import quality

rng = np.random.default_rng(3)


def test_expected_demand_closed_form_against_fine_quadrature():
    e = np.linspace(-9, 9, 120_001)
    w = np.exp(-0.5 * e**2)
    w /= w.sum()
    for _ in range(60):
        centre, spread = rng.uniform(-0.3, 1.3), rng.choice([0.0, rng.uniform(0.01, 0.5)])
        a, c, p = rng.uniform(0, 0.08), rng.uniform(0, 0.05), rng.uniform(0, 0.08)
        temp = rng.choice([0.002, 0.01, 0.05])
        mean_b, mean_phi_b = expected_logit_demand(np.array(centre), np.array(spread), a, c, p, 1.0, temp)
        tilde = np.clip(centre + spread * e, 0, 1)
        b, _ = logit_demand(tilde, a, c, p, 1.0, temp)
        assert mean_b == pytest.approx(w @ b, abs=1e-6)
        assert mean_phi_b == pytest.approx(w @ (tilde * b), abs=1e-6)


def test_statutory_marginal_revenue_is_the_derivative_of_the_expected_demand():
    """Two closed forms: the expected royalty income's derivative in phi equals the marginal revenue."""
    phi = np.linspace(0.02, 0.98, 25)
    mu, w, sd, temp, royalty = np.array([0.55, 0.4]), np.array([0.5, 0.8]), 0.3, 0.005, 0.02
    a, c = np.array([0.05, 0.04]), np.array([0.01, 0.015])

    def income(f):
        mean_b, _ = expected_logit_demand(mu + w * (f[:, None] - mu), w * sd, a, c, royalty, 1.0, temp)
        return royalty * mean_b.sum(1)

    fd = (income(phi + 1e-6) - income(phi - 1e-6)) / 2e-6
    mr = statutory_marginal_revenue(phi, mu, w, sd, a, c, np.full(phi.shape, royalty), temp, royalty)
    np.testing.assert_allclose(mr, fd, rtol=1e-5, atol=1e-9)


def test_shapley_leave_one_out_tends_to_the_marginal_product():
    """Eq. (4) with N producers vs its N -> infinity form: the relative gap shrinks like 1/N."""
    gaps = []
    for n in (100, 1000, 10_000):
        phi = rng.uniform(0, 1, n)
        b = np.ones((n, 2))
        z, money = np.array([1.0, 1.3]), np.array([n / 2, n / 2 * 1.2])
        h, s = phi.sum(), (1 - phi).sum()
        q = quality(z, h / n, s / n, 0.2, 0.1)
        exact = shapley_payments(b, phi, float(n), z, 0.2, 0.1, 1.0, money)
        limit = shapley_marginal_payments(b, phi, q, 0.2, 0.1, money)
        gaps.append(np.max(np.abs(exact - limit) / limit))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-3 and gaps[0] / gaps[2] > 30


@pytest.mark.parametrize("regime", ["unregulated", pytest.param("statutory", marks=pytest.mark.slow), "shapley"])
def test_continuum_quadrature_converges_and_conserves(regime):  # statutory compiles its Newton demand twice: 30 s
    cfg = make_config(regime=regime, generations=6)
    coarse, fine = solve_meanfield(cfg, type_nodes=16), solve_meanfield(cfg, type_nodes=48)
    for key in ("rho", "quality", "provenance"):
        np.testing.assert_allclose(coarse[key], fine[key], atol=2e-3)
    assert np.all((fine["rho"] >= 0) & (fine["rho"] <= 1))
    assert np.all((fine["shares"] >= 0) & (fine["shares"] <= 1))
    np.testing.assert_allclose(fine["shares"].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(fine["budget_gap"], 0.0, atol=1e-6)  # what trainers pay, producers receive
    assert np.all(fine["kl"] >= -1e-6) and fine["kl"][0] == pytest.approx(0.0, abs=1e-5)  # generation 0 is p


def test_equilibrium_residuals_and_multistart_agreement():
    cfg = make_config(regime="shapley")
    eq = solve_equilibrium(cfg, starts=4, seed=1)
    assert eq.all_converged
    assert eq.residuals["best_response"] < 1e-4
    assert eq.residuals["rho_consistency"] < 1e-5
    assert eq.residuals["market_clearing"] < 1e-5
    assert eq.unique and max(eq.start_spread.values()) < 1e-4
    # the equilibrium is where the market's own dynamics go: a long trajectory from generation 0 ends there
    long = solve_meanfield(cfg.replace(generations=150))
    assert long["rho"][-1] == pytest.approx(eq.rho_star, abs=1e-4)
    assert long["quality"][-1] == pytest.approx(eq.quality_star, rel=1e-4)
    assert eq.s_star == pytest.approx(eq.kl_star / (2 * cfg.collapse_weight))


def test_proposition1_on_a_grid_of_rho():
    """Q*(rho) against the closed-form stationary fidelity; Prop. 1 (non-increasing) holds at high rho and fails
    near rho = 0, where x_S^delta(rho) -> 0 (a finding: the paper claims it everywhere since delta < gamma)."""
    cfg = make_config()
    rhos = np.linspace(0.02, 0.98, 49)
    curve = quality_curve(cfg, rhos)
    closed = stationary_fidelity(rhos, cfg.temperature, "mle", cfg.dim)
    np.testing.assert_allclose(curve["fidelity"], closed, rtol=1e-3, atol=1e-6)
    q = np.array(curve["quality"])
    assert curve["delta_below_gamma"]
    assert not curve["non_increasing"] and min(curve["increasing_on"]) == pytest.approx(rhos[1])
    assert np.all(np.diff(q[rhos >= 0.4]) < 0)
    wgf = quality_curve(cfg.replace(learning_rule="wgf"), rhos)
    beyond = rhos >= cfg.temperature  # no stationary model: the flow collapses to a point, Q* = 0
    assert np.all(np.isinf(np.array(wgf["fidelity"])[beyond])) and np.all(np.array(wgf["quality"])[beyond] == 0)


def test_abm_error_to_the_mean_field_shrinks_with_n(tmp_path):
    """Three sizes, 6 seeds: medians of the max-over-t errors fall with N; the mle ABM is closer to the mle limit
    than to the wgf one at the largest N (docs/model.md §2: the limits differ)."""
    cfg = make_config(generations=4)
    result = compare(cfg, [64, 256, 1024], 6, tmp_path, rules=("mle",))
    own, other = result.by_rule["mle"]["mle"], result.by_rule["mle"]["wgf"]
    for metric in ("rho", "w2", "quality"):
        errors = own["errors"][metric]
        assert errors[0] > errors[1] > errors[2], (metric, errors)
        assert own["exponent"][metric]["low"] > 0.2, (metric, own["exponent"][metric])
    assert other["errors"]["quality"][-1] > 3 * own["errors"]["quality"][-1]
    assert result.limit_gap["w2"] > 0.02
    assert (tmp_path / "errors.png").exists() and (tmp_path / "trajectories.png").exists()
