"""Theorem 4: paying eq. (4) on self-reported provenance is not incentive compatible; on realised quality it is."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sdce.cli import app
from sdce.config import make_config
from sdce.economics.payments import shapley_payments
from sdce.economics.producers import provenance_best_response
from sdce.experiments.theorem4 import default_market, theorem4_result
from sdce.population import draw_producer_types

SMALL = dict(n_producers=64, n_trainers=4)


def _others(cfg, seed):
    """The other producers of the default market, rebuilt here: provenance sustained by intrinsic motivation."""
    types = draw_producer_types(cfg, np.random.default_rng(seed))
    return provenance_best_response(0.0, types.nu, types.phi_bar, cfg.cost_human, cfg.cost_quadratic)[1:]


def _brute_force(cfg, others, reports):
    """Producer 0's eq. (4) payment for each report, from `shapley_payments` on the full N x M bundle matrix."""
    m = default_market(cfg, 0)  # trainers, elasticities and collapse factor at the market's rho
    bundles = np.full((cfg.n_producers, cfg.n_trainers), cfg.capacity)
    out = []
    for r in reports:
        pay = shapley_payments(bundles, np.concatenate([[r], others]), m.volume, m.productivity, m.gamma, m.delta,
                               m.collapse, m.money)
        out.append(pay[0].sum())
    return np.array(out)


@pytest.mark.parametrize("fixed_rho", [None, 0.2, 0.2896])
def test_best_misreport_beats_a_brute_force_grid_and_the_truth(fixed_rho):
    """Over-reporting (rho 0.85), under-reporting (rho 0.2) and an interior pooling report near the switch."""
    cfg = make_config(**SMALL, fixed_rho=fixed_rho)
    table, summary = theorem4_result(cfg, grid=21)
    others = _others(cfg, 0) if fixed_rho is None else np.full(cfg.n_producers - 1, 1 - fixed_rho)
    one = table["nu"] == summary["motivations"][1]
    phi, lie, truth = table["phi"][one], table["misreport_payment"][one], table["truthful_payment"][one]
    np.testing.assert_allclose(truth, _brute_force(cfg, others, phi), rtol=1e-10)
    brute = _brute_force(cfg, others, np.linspace(0.0, 1.0, 2001)).max()
    assert np.all(lie >= np.maximum(brute, truth) - 1e-12)
    assert np.all(table["gain"] >= -1e-13)
    if fixed_rho == 0.2896:
        assert 0.05 < summary["best_report"] < 0.95  # T is concave and nearly flat here: an interior maximum


def test_low_types_gain_from_over_reporting_and_type_one_is_capped():
    _, summary = theorem4_result(make_config(), grid=11)
    assert summary["market"]["rho"] == pytest.approx(0.853, abs=0.01)
    assert summary["best_report"] == 1.0
    gain = np.array(summary["by_type"]["gain"])
    assert summary["by_type"]["phi"] == [0.0, 0.2, 0.5, 0.8, 1.0]
    assert gain[0] > 0.3 and np.all(np.diff(gain) < 0)  # largest for the lowest type
    assert summary["zero_gain_types"] == [1.0] and gain[-1] == 0.0  # phi = 1 reports 1: the report is capped
    assert summary["share_positive_gain"] == pytest.approx(10 / 11)
    assert summary["mean_over_report"] == pytest.approx(0.5)
    assert summary["gain_spread_across_motivations"] == 0.0


def test_shapley_payment_rises_with_true_provenance_only_above_the_switch():
    """Eq. (4) on realised quality rewards phi at the default market (rho 0.85); at rho = 0.2 eq. (2) makes
    synthetic content worth more at the margin, so it pays less for more phi, and reports flip to under-claims."""
    _, high = theorem4_result(make_config(**SMALL), grid=21)
    assert high["shapley"]["increasing"] and high["shapley"]["payment_at_1"] > high["shapley"]["payment_at_0"]
    _, low = theorem4_result(make_config(**SMALL, fixed_rho=0.2), grid=21)
    assert low["shapley"]["decreasing"] and low["best_report"] == 0.0
    assert low["zero_gain_types"] == [0.0] and low["max_gain_at"] == 1.0
    # root of gamma(rho) rho = delta(rho) (1 - rho)^2, the sign switch of the N -> infinity marginal payment
    root = min(r.real for r in np.roots([-0.02, 0.42, -0.12]) if 0 < r.real < 1)
    assert high["by_rho"]["sign_change_rho"] == pytest.approx(root, abs=0.005)


def test_deterministic_and_seeded():
    cfg = make_config(**SMALL)
    a, sa = theorem4_result(cfg, grid=7, seed=3)
    b, sb = theorem4_result(cfg, grid=7, seed=3)
    assert sa == sb and all(np.array_equal(a[k], b[k]) for k in a)
    _, other = theorem4_result(cfg, grid=7, seed=4)
    assert other["market"]["rho"] != sa["market"]["rho"]


def test_cli_theorem4(tmp_path):
    result = CliRunner().invoke(app, ["theorem4", "--grid", "9", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["grid"] == 9 and summary["best_report"] == 1.0
    assert (tmp_path / "theorem4.png").exists()
    header, *rows = (tmp_path / "theorem4.csv").read_text().splitlines()
    assert header.split(",") == ["phi", "nu", "truthful_payment", "truthful_payoff", "best_report",
                                 "misreport_payment", "misreport_payoff", "gain"]
    assert len(rows) == 9 * 3
    other = CliRunner().invoke(app, ["theorem4", "--grid", "5", "--out", str(tmp_path)])
    assert other.exit_code == 2 and "grid: 9 there, 5 now" in other.output  # the folder holds the grid-9 run
    table = CliRunner().invoke(app, ["theorem4", "--grid", "5", "--out", str(tmp_path), "--force"])
    assert table.exit_code == 0 and "Theorem 4" in table.output
    assert len((tmp_path / "theorem4.csv").read_text().splitlines()) == 1 + 5 * 3
    cases = ((["--grid", "1"], "Invalid value for '--grid'"), (["--seed", "-1"], "Invalid value for '--seed'"))
    for args, message in cases:
        bad = CliRunner().invoke(app, ["theorem4", *args, "--out", str(tmp_path)])
        assert bad.exit_code == 2 and message in bad.output
