"""`sdce reproduce table4|table2`: our numbers are computed from our panels and printed beside the published ones."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from calibration.ols import collapse_law_ols
from sdce.cli import app
from sdce.paper.published import TABLE_II, TABLE_IV, table4_panel

runner = CliRunner()


@pytest.fixture()
def small_config(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text("n_producers = 64\nn_trainers = 4\nprobe_size = 64\n")
    return path


def test_table4_beside_the_paper(tmp_path, small_config):
    result = runner.invoke(app, ["reproduce", "table4", "--abm-seeds", "2", "--config", str(small_config),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    long = pd.read_csv(tmp_path / "table4.csv")
    assert len(long) == 30
    for row in long.itertuples():
        j = [0.1, 0.3, 0.5, 0.7, 0.9].index(row.rho)
        assert row.paper == TABLE_IV[row.t][j]
        assert row.gap == pytest.approx(row.ours - row.paper)
    panel = pd.read_csv(tmp_path / "abm_panel.csv")
    ours = panel[panel.metric == "relative_quality"].groupby(["generation", "rho"])["value"].mean()
    np.testing.assert_allclose(long["ours"], [ours[(t, r)] for t, r in zip(long["t"], long["rho"])])
    fits = pd.read_csv(tmp_path / "table4_fit.csv")
    assert fits.loc[0, "b"] == pytest.approx(collapse_law_ols(panel, "relative_quality")["b"])
    assert fits.loc[1, "b"] == pytest.approx(collapse_law_ols(table4_panel())["b"])
    assert "ours (paper)" in (tmp_path / "table4.md").read_text() and (tmp_path / "table4.png").exists()


@pytest.mark.slow
def test_table2_at_tiny_size(tmp_path, small_config):
    result = runner.invoke(app, ["reproduce", "table2", "--size", "tiny", "--abm-seeds", "1", "--config",
                                 str(small_config), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "table2.csv")
    ours = table[table["ours"].notna()]
    assert len(ours) == 5 and np.isfinite(ours["b"]).all() and (ours["se_hac"] > 0).all()
    paper = table.set_index("paper row")
    for row in TABLE_II.values():
        assert paper.loc[f"paper: {row.label}", "paper b"] == row.b
    text = table[table["ours"].str.startswith("text", na=False)].iloc[0]
    fit = collapse_law_ols(pd.read_csv(tmp_path / "retrain" / "text" / "panel.csv"), "perplexity")
    assert text["b"] == pytest.approx(fit["b"]) and text["gap"] == pytest.approx(fit["b"] - text["paper b"])
