"""Target moments (`calibration.targets`, `sdce calibrate moments`): the target file is checked before any work,
the paper's targets follow their stated rule, and the continuum's moments obey their definitions."""

import json
import math

import pytest
from typer.testing import CliRunner

from calibration.targets import FIXED_RHO, KINDS, compare_moments, model_moments, paper_targets, parse_targets
from sdce.cli import app
from sdce.config import REGIMES, make_config
from sdce.errors import ConfigError
from sdce.paper.published import TABLE_III

runner = CliRunner()
SMALL = make_config(n_producers=64, n_trainers=4, generations=3)


@pytest.mark.parametrize("text,message", [
    ("", "missing column"),
    ("moment,value\nrho_T:pmir,0.4\n", "missing column(s) se"),
    ("moment,value,se\n", "no targets"),
    ("moment,value,se\nrho_T:pirate,0.4,0.01\n", "REGIME one of"),
    ("moment,value,se\nrho:pmir,0.4,0.01\n", "KIND one of"),
    ("moment,value,se\nrho_T:pmir,0.4,0\n", "se must be > 0"),
    ("moment,value,se\nrho_T:pmir,0.4,-0.1\n", "se must be > 0"),
    ("moment,value,se\nrho_T:pmir,lots,0.1\n", "value must be a number"),
    ("moment,value,se\nrho_T:pmir,nan,0.1\n", "value must be finite"),
    ("moment,value,se\nrho_T:pmir,0.4,0.1\nrho_T:pmir,0.5,0.1\n", "appears twice"),
])
def test_bad_target_files_are_refused_by_name(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_targets(text)


def test_the_cli_refuses_a_bad_file_before_any_work(tmp_path):
    bad = tmp_path / "targets.csv"
    bad.write_text("moment,value,se\nquality_T:shapley,0.5,-1\n")
    result = runner.invoke(app, ["calibrate", "moments", "--targets", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "se must be > 0" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    missing = runner.invoke(app, ["calibrate", "moments", "--targets", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_paper_targets_are_table_iii_with_the_stated_cv_bound():
    targets = {t.moment: t for t in paper_targets()}
    assert targets["rho_T:pmir"].value == TABLE_III["pmir"].rho
    assert targets["quality_rel:shapley"].value == TABLE_III["shapley"].q_rel
    assert "quality_rel:unregulated" not in targets and "delta_welfare:unregulated" not in targets
    for t in targets.values():
        assert t.se == pytest.approx(0.05 * abs(t.value) / math.sqrt(32)) and t.se > 0


def test_continuum_moments_obey_their_definitions():
    names = [f"{kind}:{regime}" for kind in KINDS if kind != FIXED_RHO for regime in ("unregulated", "shapley")]
    moments = model_moments(SMALL, names)
    assert moments["quality_rel:unregulated"] == 1.0 and moments["delta_welfare:unregulated"] == 0.0
    assert moments["quality_rel:shapley"] == pytest.approx(moments["quality_T:shapley"]
                                                           / moments["quality_T:unregulated"])
    assert moments["delta_welfare:shapley"] == pytest.approx(moments["welfare_T:shapley"]
                                                             - moments["welfare_T:unregulated"])
    assert all(0 <= moments[f"rho_T:{r}"] <= 1 for r in ("unregulated", "shapley"))
    assert all(moments[f"w2_T:{r}"] >= 0 for r in ("unregulated", "shapley"))
    assert set(REGIMES) >= {name.split(":")[1] for name in names}


def test_z_is_the_standardised_gap():
    targets = parse_targets("moment,value,se\nrho_T:pmir,0.5,0.02\nw2_T:pmir,0.1,0.05\n")
    rows = compare_moments(targets, {"rho_T:pmir": 0.54, "w2_T:pmir": 0.1})
    assert [r["z"] for r in rows] == pytest.approx([2.0, 0.0])


def test_cli_moments_json_and_folder(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text("n_producers = 64\nn_trainers = 4\ngenerations = 3\n")
    targets = tmp_path / "t.csv"
    targets.write_text("moment,value,se\nrho_T:statutory,0.6,0.05\nquality_rel:statutory,1.1,0.1\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["calibrate", "moments", "--targets", str(targets), "--config", str(cfg), "--out",
                                 str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    direct = model_moments(SMALL, ["rho_T:statutory", "quality_rel:statutory"])
    assert [r["model"] for r in rows] == pytest.approx([direct["rho_T:statutory"], direct["quality_rel:statutory"]])
    assert (out / "moments.csv").exists() and (out / "moments.png").exists()
