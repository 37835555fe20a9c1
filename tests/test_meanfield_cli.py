"""The mean-field commands: same keys as `sdce run --json`, the SDCE's JSON, the comparison's JSON, and clear
errors for what the limit does not cover."""

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from meanfield.theorem6 import MIN_FIT_POINTS
from sdce.cli import app
from sdce.config import make_config

runner = CliRunner()


def test_meanfield_json_has_the_keys_of_run(tmp_path):
    mf = runner.invoke(app, ["meanfield", "--generations", "3", "--regime", "shapley", "--out", str(tmp_path / "mf"),
                             "--json"])
    assert mf.exit_code == 0, mf.output
    abm = runner.invoke(app, ["run", "--generations", "3", "--regime", "shapley", "--producers", "64",
                              "--out", str(tmp_path / "abm"), "--json"])
    assert abm.exit_code == 0, abm.output
    mf_keys, abm_keys = set(json.loads(mf.stdout)), set(json.loads(abm.stdout))
    assert abm_keys <= mf_keys
    summary = json.loads(mf.stdout)
    assert len(summary["rho"]) == 4 and summary["level"] == "meanfield"
    for name in ("trajectory.csv", "summary.json", "trajectory.png"):
        assert (tmp_path / "mf" / name).exists()


def test_iterations_to_epsilon_on_a_known_decay():
    """Distance 2^-k for k < 10, then 0: the distance first stays <= eps from round ceil(log2(1/eps)); an
    oscillation of +-0.05 in the tail is the floor, and smaller epsilons are never reached."""
    from meanfield.theorem6 import OBSERVABLES, iterations_to_epsilon

    path = np.concatenate([1 + 2.0 ** -np.arange(10), np.ones(20)])
    distance, floor, iterations = iterations_to_epsilon({k: path for k in OBSERVABLES}, [0.1, 0.01, 0.3])
    np.testing.assert_allclose(distance[:10], 2.0 ** -np.arange(10))
    assert iterations == [4, 7, 2] and floor == 0
    wobbly = np.concatenate([1 + 2.0 ** -np.arange(10), 1 + 0.05 * (-1.0) ** np.arange(20)])
    _, floor, iterations = iterations_to_epsilon({k: wobbly for k in OBSERVABLES}, [0.1, 0.01])
    assert floor == pytest.approx(0.05) and iterations == [4, None]


@pytest.mark.slow
def test_theorem6_reports_its_floor_and_slope(tmp_path):
    result = runner.invoke(app, ["meanfield", "--theorem6", "--generations", "3", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rounds"] == 4 * 20 and (tmp_path / "theorem6.png").exists()
    reached = [i is not None and i > 0 for i in summary["iterations"]]
    assert (summary["slope"] is None) == (sum(reached) < MIN_FIT_POINTS)
    assert all(e >= summary["epsilon_floor"] for e, i in zip(summary["epsilon"], summary["iterations"])
               if i is not None)


def test_equilibrium_json(tmp_path):
    result = runner.invoke(app, ["equilibrium", "--regime", "unregulated", "--starts", "3", "--json",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    eq = json.loads(result.stdout)
    for key in ("rho_star", "quality_star", "s_star", "w_star", "welfare", "unique", "start_spread"):
        assert key in eq
    assert 0 <= eq["rho_star"] <= 1 and eq["unique"] is True
    assert (tmp_path / "types.csv").exists()


def test_equilibrium_prints_converged_and_refuses_an_unsettled_solve(monkeypatch):
    import meanfield.equilibrium as equilibrium

    solved = equilibrium.solve_equilibrium(make_config(regime="unregulated"), starts=2)
    assert solved.converged == [True, True]
    monkeypatch.setattr(equilibrium, "solve_equilibrium", lambda cfg, starts=8, seed=0: solved)
    shown = runner.invoke(app, ["equilibrium", "--regime", "unregulated", "--starts", "2"])
    assert shown.exit_code == 0, shown.output
    assert "converged (by start)" in shown.stdout and "True, True" in shown.stdout

    unsettled = replace(solved, converged=[True, False])
    monkeypatch.setattr(equilibrium, "solve_equilibrium", lambda cfg, starts=8, seed=0: unsettled)
    refused = runner.invoke(app, ["equilibrium", "--regime", "unregulated", "--starts", "2", "--json"])
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "did not settle" in refused.output and "start(s) [1]" in refused.output
    accepted = runner.invoke(app, ["equilibrium", "--regime", "unregulated", "--starts", "2", "--json",
                                   "--accept-unconverged"])
    assert accepted.exit_code == 0 and json.loads(accepted.stdout)["converged"] == [True, False]


def test_compare_json_and_resume(tmp_path):
    args = ["compare", "--producers", "32,128", "--seeds", "2", "--rules", "mle", "--generations", "2",
            "--out", str(tmp_path), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert result["producers"] == [32, 128]
    assert set(result["errors"]) == {"rho", "w2", "quality"} and len(result["errors"]["rho"]) == 2
    assert set(result["exponent"]["w2"]) == {"estimate", "low", "high"}
    rows = (tmp_path / "runs.csv").read_text()
    again = runner.invoke(app, args)  # resumes: every run is already in runs.csv, nothing is appended
    assert again.exit_code == 0 and (tmp_path / "runs.csv").read_text() == rows
    assert json.loads(again.stdout)["errors"] == result["errors"]


@pytest.mark.parametrize("args,message", [
    (["meanfield", "--grid", "3d"], "Invalid value for '--grid'"),
    (["meanfield", "--grid", "1d"], "needs dim=1"),
    (["meanfield", "--rule", "sgd"], "--rule"),
    (["equilibrium", "--starts", "0"], "starts must be >= 1"),
    (["compare", "--producers", "64,abc"], "producers: expected comma-separated integers"),
    (["compare", "--producers", "64"], "at least two sizes"),
    (["compare", "--seeds", "1"], "seeds must be >= 2"),
    (["compare", "--rules", "mle,sgd"], "unknown learning rule"),
])
def test_bad_input_is_a_clear_error(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_2d_grid_run_writes_its_density_snapshots(tmp_path):
    """`sdce meanfield --grid 2d` writes densities.png (q̄_t beside p) next to its trajectory (issue 17)."""
    cfg = tmp_path / "grid.toml"
    cfg.write_text("dim = 2\ngenerations = 2\n")
    result = runner.invoke(app, ["meanfield", "--grid", "2d", "--config", str(cfg), "--out", str(tmp_path / "mf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mf" / "densities.png").stat().st_size > 0 and (tmp_path / "mf" / "trajectory.png").exists()
    gaussian = runner.invoke(app, ["meanfield", "--generations", "2", "--out", str(tmp_path / "g")])
    assert gaussian.exit_code == 0 and not (tmp_path / "g" / "densities.png").exists()
