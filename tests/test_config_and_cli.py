"""Bad input fails before any work with a message naming the parameter and its range; the CLI's outputs."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sdce.cli import app
from sdce.config import config_toml, load_config, make_config
from sdce.errors import ConfigError
from sdce_abm.model import SDCEModel

runner = CliRunner()


@pytest.mark.parametrize("values,name,allowed", [
    ({"n_producers": -5}, "n_producers", "integer >= 2"),
    ({"n_producers": 3.5}, "n_producers", "integer >= 2"),
    ({"n_trainers": "four"}, "n_trainers", "integer >= 1"),
    ({"temperature": 0.0}, "temperature", "0 < float <= 1"),
    ({"temperature": 1.2}, "temperature", "0 < float <= 1"),
    ({"regime": "pirate"}, "regime", "unregulated|statutory|shapley"),
    ({"ability_mean": 1.0}, "ability_mean", "0 < float < 1"),
    ({"detectability": 0.0}, "detectability", "0 < float <= 1"),
])
def test_out_of_range_values_name_the_parameter(values, name, allowed):
    with pytest.raises(ConfigError) as info:
        make_config(values)
    assert name in str(info.value) and allowed in str(info.value)


def test_elasticity_sum_is_checked_on_all_of_0_1():
    make_config(alpha=0.3, beta_k=0.3, gamma0=0.18, gamma1=0.1, delta0=0.12)  # 0.9 at rho=0, 0.88 at rho=1
    with pytest.raises(ConfigError, match=r"alpha \+ beta_k \+ gamma\(rho\) \+ delta\(rho\) must be <= 1.*rho=1"):
        make_config(gamma1=0.5)  # 0.6 + 0.68 + 0 > 1 at rho = 1 only
    with pytest.raises(ConfigError, match="rho=0"):
        make_config(alpha=0.5)


def test_unknown_parameter_and_wgf_family():
    with pytest.raises(ConfigError, match="unknown parameter 'n_producer'"):
        make_config(n_producer=10)
    with pytest.raises(ConfigError, match="learning_rule='wgf' needs family='gaussian'"):
        make_config(learning_rule="wgf", family="gmm")


def test_toml_round_trip_and_malformed(tmp_path):
    cfg = make_config(regime="shapley", n_producers=300, train_time=2.5)
    path = tmp_path / "c.toml"
    path.write_text(config_toml(cfg))
    assert load_config(path) == cfg
    bad = tmp_path / "bad.toml"
    bad.write_text("n_producers = = 3\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("args,needle", [
    (["run", "--producers", "-3"], "n_producers"),
    (["run", "--regime", "pirate"], "regime"),
    (["collapse", "--rho", "1.5"], "rho"),
    (["collapse", "--tau", "0"], "tau"),
    (["run", "--producers", "abc"], "producers"),
])
def test_cli_bad_input_exits_nonzero_without_traceback(args, needle, tmp_path):
    result = runner.invoke(app, [*args] + (["--out", str(tmp_path)] if args[0] == "run" else []))
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir()), "work started before validation"


def test_cli_config_validate(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[market]\nn_trainers = 0\n")
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 2 and "n_trainers" in result.output
    good = tmp_path / "good.toml"
    good.write_text(runner.invoke(app, ["config", "show"]).output)
    assert runner.invoke(app, ["config", "validate", str(good)]).exit_code == 0


def test_cli_run_writes_run_folder_and_json(tmp_path):
    result = runner.invoke(app, ["run", "--regime", "shapley", "--producers", "64", "--trainers", "3",
                                 "--generations", "3", "--seed", "5", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for key in ("rho", "quality", "w2", "kl"):
        assert len(summary[key]) == 4
    assert set(summary["welfare"]) >= {"W_prod", "W_cons", "L_coll", "L_info", "W", "W_realized", "residual"}
    assert summary["config"]["n_producers"] == 64 and summary["seed"] == 5
    for name in ("trajectory.csv", "summary.json", "trajectory.png"):
        assert (tmp_path / name).stat().st_size > 0
    header = (tmp_path / "trajectory.csv").read_text().splitlines()
    assert len(header) == 5 and "quality_j2" in header[0] and "fidelity_j2" in header[0] and "W_prod" in header[0]


def test_cli_collapse_json():
    result = runner.invoke(app, ["collapse", "--rho", "0.5", "--generations", "3", "--reps", "3", "--samples", "50",
                                 "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert all(len(out[k]) == 4 for k in ("mean_norm", "cov_trace", "kl", "w2"))


def test_cli_regimes_resumes(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text("n_producers = 48\nn_trainers = 3\ngenerations = 2\nprobe_size = 64\n")
    first = runner.invoke(app, ["regimes", "--config", str(cfg), "--out", str(tmp_path / "r"), "--json"])
    assert first.exit_code == 0, first.output
    stamp = (tmp_path / "r" / "shapley" / "summary.json").stat().st_mtime_ns
    again = runner.invoke(app, ["regimes", "--config", str(cfg), "--out", str(tmp_path / "r"), "--json"])
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert (tmp_path / "r" / "shapley" / "summary.json").stat().st_mtime_ns == stamp
    assert (tmp_path / "r" / "comparison.png").exists()


@pytest.mark.parametrize("args, named", [
    (["run", "--seed", "-1"], "--seed"),
    (["regimes", "--seed", "-3"], "--seed"),
    (["equilibrium", "--seed", "-2"], "--seed"),
    (["run", "--policy", "subsidy", "--subsidy", "inf"], "subsidy"),
    (["run", "--policy", "watermark", "--watermark", "inf"], "watermark"),
    (["run", "--policy", "transfer", "--transfer", "inf"], "transfer"),
    (["policy", "sweep", "--policy", "subsidy", "--levels", "0,inf"], "--levels"),
    (["policy", "sweep", "--policy", "subsidy", "--levels", "0,nan"], "--levels"),
    (["policy", "sweep", "--policy", "subsidy", "--levels", "0.1,0.1"], "--levels"),
    (["policy", "sweep", "--policy", "subsidy", "--levels", "0,lots"], "--levels"),
    (["viz", "--host", "192.0.2.1"], "host"),
    (["compare", "--producers", "64,64", "--seeds", "2"], "producers"),
    (["theorem5", "--horizons", "2,2,4"], "horizons"),
    (["collapse", "--family", "gmm", "--components", "50", "--samples", "10"], "components"),
    (["run", "--producers", "1000000000"], "--producers"),  # sizes beyond the memory budget (16 GiB here)
    (["run", "--generations", "10000000"], "--generations"),
    (["compare", "--producers", "64,1000000000", "--seeds", "2"], "--producers"),
    (["theorem5", "--reps", "1000000000"], "--reps"),
    (["collapse", "--samples", "1000000000"], "--samples"),
    (["meanfield", "--generations", "10000000"], "--generations"),
    (["retrain", "--generations", "100000000"], "--generations"),
    (["run", "--producers", "64", "--trainers", "4", "--generations", "5000000"], "time budget"),  # beyond a day
    (["retrain", "--size", "tiny", "--generations", "1000000"], "time budget"),
    (["collapse", "--samples", "100000", "--generations", "100000", "--reps", "1000"], "time budget"),
    (["compare", "--producers", "64,128", "--seeds", "1000000"], "time budget"),
    (["run", "--policy", "subsidy"], "--subsidy"),  # options that would change nothing
    (["run", "--policy", "watermark"], "--watermark"),
    (["theorem5", "--policy", "subsidy"], "--policy"),
    (["meanfield", "--theorem6", "--regime", "shapley"], "--regime"),
    (["meanfield", "--theorem6", "--generations", "1"], "generations"),
    (["meanfield", "--grid", "3d"], "grid"),
    (["run", "--config", "/"], "--config"),  # paths that are not what they should be
    (["config", "validate", "/bin/sh"], "not a text file"),
])
def test_bad_inputs_are_refused_before_work(args, named, tmp_path, monkeypatch):
    """Issue 16's cases: exit 2, one message naming the option, no traceback, nothing written."""
    monkeypatch.setenv("SDCE_MEMORY_GIB", "16")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    extra = [] if args[0] in ("viz", "collapse", "config") else ["--out", str(out)]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert named in result.output
    assert not out.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", [["run"], ["regimes"], ["meanfield"], ["equilibrium"], ["theorem4"],
                                     ["theorem5"], ["compare", "--producers", "8,16", "--seeds", "2"],
                                     ["retrain"], ["policy", "sweep", "--policy", "subsidy", "--levels", "0"],
                                     ["reproduce", "table3"], ["reproduce", "all", "--quick"]])
@pytest.mark.parametrize("where", ["a file", "below a file", "/proc"])
def test_output_folders_that_cannot_be_are_refused(command, where, tmp_path):
    file = tmp_path / "file"
    file.write_text("not a folder")
    out = {"a file": file, "below a file": file / "sub", "/proc": "/proc/sdce-test"}[where]
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "--out" in result.output and file.read_text() == "not a folder"


def test_toml_tables_must_be_the_sections(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[marketz]\nn_producers = 8\n")
    with pytest.raises(ConfigError, match=r"unknown table \[marketz\]"):
        load_config(path)
    path.write_text("[data]\nn_producers = 8\n")
    with pytest.raises(ConfigError, match=r"n_producers is a parameter of \[market\], found under \[data\]"):
        load_config(path)
    path.write_text("[market]\nn_producers = 8\n")
    assert load_config(path).n_producers == 8


SMALL_RUN = "n_producers = 48\nn_trainers = 3\ngenerations = 2\nprobe_size = 64\n"


def test_a_run_folder_holds_one_run(tmp_path):
    """`sdce run` into a folder of another run is refused before work; --force clears it first (no pmir
    learning.csv beside a shapley summary); the same run again is allowed."""
    cfg, out = tmp_path / "small.toml", tmp_path / "run"
    cfg.write_text(SMALL_RUN)
    first = runner.invoke(app, ["run", "--config", str(cfg), "--regime", "pmir", "--out", str(out), "--json"])
    assert first.exit_code == 0 and (out / "learning.csv").exists(), first.output
    before = sorted(p.name for p in out.iterdir())
    other = runner.invoke(app, ["run", "--config", str(cfg), "--regime", "shapley", "--seed", "99", "--out", str(out)])
    assert other.exit_code == 2 and "seed: 17 there, 99 now" in other.output and "--force" in other.output
    assert sorted(p.name for p in out.iterdir()) == before
    forced = runner.invoke(app, ["run", "--config", str(cfg), "--regime", "shapley", "--seed", "99", "--out",
                                 str(out), "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert not (out / "learning.csv").exists() and json.loads((out / "summary.json").read_text())["seed"] == 99
    again = runner.invoke(app, ["run", "--config", str(cfg), "--regime", "shapley", "--seed", "99", "--out", str(out),
                                "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout) == json.loads(forced.stdout)
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    refused = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(stranger), "--force"])
    assert refused.exit_code == 2 and "no sdce run recorded" in refused.output
    assert (stranger / "notes.txt").read_text() == "keep me"


def test_model_and_solver_refuse_negative_seeds():
    from meanfield.equilibrium import solve_equilibrium

    with pytest.raises(ConfigError, match="seed"):
        SDCEModel(seed=-1, n_producers=8, n_trainers=2, generations=1)
    with pytest.raises(ConfigError, match="seed"):
        solve_equilibrium(make_config(regime="unregulated"), starts=1, seed=-1)


def test_a_tables_folder_holds_one_configuration(tmp_path):
    """`reproduce table3|table4` into a folder of another configuration are refused before work, naming the field;
    `--force` clears it first; tables of the same configuration share the folder. `reproduce all` refuses a folder
    of another run."""
    small, other, out = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "tables"
    small.write_text(SMALL_RUN)
    other.write_text(SMALL_RUN.replace("n_producers = 48", "n_producers = 40"))
    table3 = ["reproduce", "table3", "--seeds", "1", "--regimes", "unregulated", "--workers", "1", "--out", str(out)]
    assert runner.invoke(app, [*table3, "--config", str(small)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for command in (table3, ["reproduce", "table4", "--abm-seeds", "1", "--out", str(out)]):
        refused = runner.invoke(app, [*command, "--config", str(other)])
        assert refused.exit_code == 2 and "config.n_producers: 48 there, 40 now" in refused.output, refused.output
        assert "--force" in refused.output
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    forced = runner.invoke(app, [*table3, "--config", str(other), "--force"])
    assert forced.exit_code == 0, forced.output
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 1 and json.loads((out / "settings.json").read_text())["config.n_producers"] == 40
    shared = runner.invoke(app, ["reproduce", "table4", "--abm-seeds", "1", "--config", str(other), "--out", str(out)])
    assert shared.exit_code == 0 and (out / "table4.md").exists() and (out / "runs.csv").exists(), shared.output
    run = tmp_path / "run"
    assert runner.invoke(app, ["run", "--config", str(small), "--out", str(run)]).exit_code == 0
    report = runner.invoke(app, ["reproduce", "all", "--quick", "--out", str(run)])
    assert report.exit_code == 2 and "holds a report with other settings" in report.output, report.output
    assert not (run / "config.toml").exists()
