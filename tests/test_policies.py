"""Policy mechanics (docs/model.md §7): a subsidy lowers contamination, disclosure makes provenance observable, the cap
binds, transfers are lump-sum, costs are charged where they are incurred, and bad levels are refused."""

import math

import numpy as np
import pytest

from meanfield.solve import solve_meanfield
from sdce.config import make_config
from sdce.errors import ConfigError
from sdce.regimes import policy_acts
from sdce_abm.model import SDCEModel
from tests.conftest import SMALL


def _run(**kw):
    model = SDCEModel(**{**SMALL, "generations": 6, **kw})
    model.run_model()
    return model, model.datacollector.get_model_vars_dataframe()


def test_subsidy_tilts_each_trainers_bundle_towards_perceived_human_content():
    from sdce.economics.demand import bundle_demand

    rng = np.random.default_rng(0)
    phi_tilde = rng.uniform(0, 1, (200, 3))
    args = (np.full(200, 0.01), np.ones(200), np.array([0.2, 0.3, 0.25]), 0.3, 0.1, 0.005)
    plain = bundle_demand(phi_tilde, *args, 0.0, volume=200.0).bundles
    subsidised = bundle_demand(phi_tilde, *args, 0.05, volume=200.0).bundles
    human = lambda b: (phi_tilde * b).sum(0)  # noqa: E731  perceived human input H^_j
    synthetic = lambda b: ((1 - phi_tilde) * b).sum(0)  # noqa: E731
    assert (human(subsidised) > human(plain)).all()
    assert (human(subsidised) / synthetic(subsidised) > human(plain) / synthetic(plain)).all()


@pytest.mark.parametrize("regime", ["unregulated", "shapley", "intermediary", "statutory"])
def test_subsidy_changes_nothing_where_trainers_do_not_choose_bundles(regime):
    """`policy_acts` (what `sdce run` warns on) agrees with the runs: identical paths exactly where it says no."""
    _, plain = _run(seed=4, regime=regime)
    _, subsidised = _run(seed=4, regime=regime, policy="subsidy", subsidy=0.05)
    same = np.array_equal(plain["rho"], subsidised["rho"]) and np.array_equal(plain["W"], subsidised["W"])
    assert same == (not policy_acts(regime, "subsidy"))


def test_disclosure_reveals_provenance_and_is_charged_per_unit():
    model, frame = _run(seed=2, regime="statutory", policy="disclosure", disclosure_cost=0.03)
    assert model.levers.psi == 1.0 and model.perception.noise_sd == 0.0
    np.testing.assert_allclose(model.perception.perceived, np.repeat(model.producer_state.phi[:, None], 4, 1))
    used = model.bundles.sum()
    assert frame["policy_cost"].iloc[-1] == pytest.approx(0.03 * used / model.volume)


def test_royalty_cap_binds_and_is_inert_above_the_royalty():
    _, capped = _run(seed=3, regime="statutory", royalty=0.02, policy="royalty-cap", royalty_cap=0.005)
    assert np.allclose(capped["price"].iloc[1:], 0.005)
    _, loose = _run(seed=3, regime="statutory", royalty=0.02, policy="royalty-cap", royalty_cap=0.5)
    _, none = _run(seed=3, regime="statutory", royalty=0.02)
    np.testing.assert_array_equal(loose["rho"], none["rho"])


@pytest.mark.parametrize("regime", ["unregulated", "statutory", "shapley"])
def test_transfers_are_lump_sum(regime):
    model, with_t = _run(seed=5, regime=regime, policy="transfer", transfer=0.04)
    _, without = _run(seed=5, regime=regime)
    for column in ("rho", "quality", "provenance", "price", "W"):
        np.testing.assert_allclose(with_t[column], without[column], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(with_t["W_prod"] - without["W_prod"], 0.04 / model.config.capacity, rtol=1e-9)
    for entry in model.ledger:
        assert math.isclose(entry["paid_by_trainers"], entry["received_by_producers"], rel_tol=1e-12)


def test_transfers_balance_in_the_limit():
    out = solve_meanfield(make_config(regime="shapley", generations=3, policy="transfer", transfer=0.04))
    plain = solve_meanfield(make_config(regime="shapley", generations=3))
    np.testing.assert_allclose(out["budget_gap"], 0.0, atol=1e-5)
    np.testing.assert_allclose(out["rho"], plain["rho"], atol=1e-6)


def test_watermark_raises_detectability_at_a_cost_per_synthetic_unit():
    cfg = make_config(policy="watermark", watermark=1.0, watermark_cost=0.05)
    assert cfg.levers().psi == pytest.approx(1 - 0.5 * math.exp(-1.0))
    model, frame = _run(seed=6, regime="statutory", policy="watermark", watermark=1.0, watermark_cost=0.05)
    synthetic = ((1 - model.producer_state.phi) @ model.bundles).sum()
    assert frame["policy_cost"].iloc[-1] == pytest.approx(0.05 * 1.0 * synthetic / model.volume)


@pytest.mark.parametrize("values,message", [
    ({"policy": "lottery"}, "policy"),
    ({"policy": "subsidy", "subsidy": -0.1}, "subsidy"),
    ({"subsidy": 0.1}, "set policy='subsidy'"),
    ({"watermark": 1.0}, "set policy='watermark'"),
    ({"policy": "royalty-cap"}, "needs a finite royalty_cap"),
    ({"policy": "transfer", "transfer": -1.0}, "transfer"),
])
def test_bad_policy_input_is_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        make_config(**values)


def test_cli_policy_bad_levels_exit_cleanly(tmp_path):
    from typer.testing import CliRunner

    from sdce.cli import app

    runner = CliRunner()
    for args, message in [(["--policy", "lottery"], "policy"), (["--subsidy", "lots"], "expected a number"),
                          (["--policy", "watermark", "--watermark", "-1"], "watermark")]:
        bad = runner.invoke(app, ["run", "--producers", "64", "--out", str(tmp_path), *args])
        assert bad.exit_code == 2 and message in bad.output and "Traceback" not in bad.output
    toml = tmp_path / "retrain.toml"
    toml.write_text('technology = "retrain"\n')
    none = runner.invoke(app, ["run", "--config", str(toml), "--policy", "subsidy", "--subsidy", "optimal"])
    assert none.exit_code == 2 and "no" in none.output and "Traceback" not in none.output


@pytest.mark.slow
def test_cli_optimal_subsidy_is_s_star_at_the_sdce(tmp_path):
    import json

    from typer.testing import CliRunner

    from meanfield.equilibrium import closed_form_policy_levels
    from sdce.cli import app

    result = CliRunner().invoke(app, ["run", "--regime", "statutory", "--producers", "64", "--generations", "1",
                                      "--policy", "subsidy", "--subsidy", "optimal", "--out", str(tmp_path),
                                      "--json"])
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.stdout)["config"]
    assert cfg["policy"] == "subsidy"
    assert cfg["subsidy"] == pytest.approx(closed_form_policy_levels(make_config(regime="statutory"))["s_star"])


def test_policy_sweep_resumes_and_reports_the_optimum(tmp_path):
    from sdce_abm.policy_sweep import policy_sweep

    cfg = make_config(**{**SMALL, "generations": 2, "regime": "statutory"})
    calls = []
    first = policy_sweep(cfg, "watermark", [0.0, 1.0], [1, 2], tmp_path, closed_form=0.5,
                         on_run=lambda: calls.append(1))
    again = policy_sweep(cfg, "watermark", [0.0, 1.0], [1, 2], tmp_path, closed_form=0.5)
    assert first == again and len(calls) == 4
    assert first["best_level"] == first["levels"][int(np.argmax(first["W_mean"]))]
    assert first["policy_cost_mean"][0] == 0.0 < first["policy_cost_mean"][1]
    assert (tmp_path / "sweep.png").exists() and len(open(tmp_path / "sweep.csv").readlines()) == 5
    with pytest.raises(ConfigError, match="subsidy or watermark"):
        policy_sweep(cfg, "transfer", [0.0], [1], tmp_path / "x")
