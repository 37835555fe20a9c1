"""`sdce reproduce table3|table5|all` (calibration.tables): seeds, runs log and resume, summaries, orderings, CLI."""

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import calibration.runs as runs_module
import calibration.tables as tables
from calibration.runs import CAP_FRACTION, PAPER_SEEDS, REFERENCE_SEED, TRANSFER_FRACTION, seed_list, simulate
from calibration.tables import ordering, per_seed, summarize, table3, table5, theorem2
from sdce.cli import app
from sdce.config import load_config
from sdce.errors import ConfigError
from sdce.paper.published import LISTED_SEEDS, TABLE_III, TABLE_V
from sdce.result_log import write_log

runner = CliRunner()
SMALL = {"n_producers": 64, "n_trainers": 4, "generations": 3, "probe_size": 64}
REGIMES = ("unregulated", "statutory", "shapley")
POLICIES = ("none", "subsidy", "disclosure", "royalty-cap", "transfer")
SEEDS = [17, 31]


def small_cfg(**changes):
    return load_config(None, **{**SMALL, **changes})


def run_small(out, **kwargs):
    """Table III's regimes and Table V's policies on `statutory` (where a royalty cap bites), in this process."""
    return simulate(small_cfg(), SEEDS, out, regimes=REGIMES, policies=POLICIES, subsidy=0.05,
                    policy_regime="statutory", workers=1, **kwargs)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("tables")
    return out, run_small(out)


# -- the paper's seeds -----------------------------------------------------------------------------------------


def test_paper_seeds_keep_the_listed_ones_and_fill_the_middle_with_primes():
    assert len(PAPER_SEEDS) == len(set(PAPER_SEEDS)) == 32 and list(PAPER_SEEDS) == sorted(PAPER_SEEDS)
    assert PAPER_SEEDS[:4] == LISTED_SEEDS[:4] and PAPER_SEEDS[-1] == LISTED_SEEDS[-1] == 9973
    sieve = np.ones(10_000, bool)
    sieve[:2] = False
    for n in range(2, 100):
        sieve[n * n::n] = False
    primes = np.flatnonzero(sieve)
    nearest = [int(min(primes, key=lambda q: (abs(q - x), q))) for x in 53 * (9973 / 53) ** (np.arange(1, 28) / 28)]
    assert list(PAPER_SEEDS[4:-1]) == nearest
    assert seed_list(3) == [17, 31, 42] and seed_list(32) == list(PAPER_SEEDS)
    for bad in (0, 33):
        with pytest.raises(ConfigError, match="between 1 and 32"):
            seed_list(bad)


# -- summaries and orderings on constructed frames -------------------------------------------------------------


def constructed(values: dict[str, list[float]], column="Q_rel") -> pd.DataFrame:
    rows = [{"regime": name, "seed": s, column: v} for name, vs in values.items() for s, v in enumerate(vs)]
    frame = pd.DataFrame(rows)
    for metric in (*tables.METRICS, *tables.EXTRA_METRICS):
        if metric != column:
            frame[metric] = 1.0
    return frame


def test_summary_mean_sd_cv_match_numpy():
    values = {"statutory": [1.1, 1.3, 0.9, 1.05], "pmir": [0.0, 0.0, 0.0, 0.0], "shapley": [2.0]}
    summary = summarize(constructed(values), "regime", TABLE_III).set_index(["regime", "metric"])
    for name, vs in values.items():
        row = summary.loc[(name, "Q_rel")]
        assert row["mean"] == pytest.approx(np.mean(vs)) and row["n"] == len(vs)
        if len(vs) > 1:
            assert row["sd"] == pytest.approx(np.std(vs, ddof=1))
        else:
            assert math.isnan(row["sd"])
        if name in TABLE_III:
            assert row["paper"] == TABLE_III[name].q_rel and row["gap"] == pytest.approx(np.mean(vs) - row["paper"])
    stat = summary.loc[("statutory", "Q_rel")]
    assert stat["cv"] == pytest.approx(np.std(values["statutory"], ddof=1) / abs(np.mean(values["statutory"])))
    assert math.isnan(summary.loc[("pmir", "Q_rel")]["cv"])  # mean 0: CV undefined
    assert summary.loc[("statutory", "W2")]["paper"] == TABLE_III["statutory"].w2
    assert math.isnan(summary.loc[("statutory", "residual")]["paper"])  # ours only


def test_orderings_hold_and_fail():
    chain = [["pmir"], ["shapley"], ["statutory"], ["unregulated"]]
    good = constructed({"pmir": [1.3, 1.2, 1.25], "shapley": [1.2, 1.25, 1.1], "statutory": [1.1, 1.05, 1.02],
                        "unregulated": [1.0, 1.0, 1.0]})
    check = ordering(good, "regime", "Q_rel", chain)
    assert check["holds"] is True and check["seeds"] == 3 and check["seeds_holding"] == 2  # seed 1: 1.2 < 1.25
    assert check["chain"] == "pmir > shapley > statutory > unregulated" and check["missing"] == []
    assert "**holds**" in tables.describe(check) and "2 of 3 seeds" in tables.describe(check)
    bad = constructed({"pmir": [0.9, 0.95], "shapley": [1.2, 1.1], "unregulated": [1.0, 1.0]})
    check = ordering(bad, "regime", "Q_rel", chain)
    assert check["holds"] is False and check["seeds_holding"] == 0 and check["missing"] == ["statutory"]
    assert "**does not hold**" in tables.describe(check) and "pmir 0.925" in tables.describe(check)
    groups = [["subsidy"], ["disclosure"], ["none", "royalty-cap", "transfer"]]
    policies = constructed({"subsidy": [0.03], "disclosure": [0.02], "none": [0.0], "royalty-cap": [0.01],
                            "transfer": [0.019]}, "dW").rename(columns={"regime": "policy"})
    assert ordering(policies, "policy", "dW", groups)["holds"] is True
    policies.loc[policies["policy"] == "transfer", "dW"] = 0.025  # a dominated policy beats disclosure
    check = ordering(policies, "policy", "dW", groups)
    assert check["holds"] is False and check["chain"] == "subsidy > disclosure > {none, royalty-cap, transfer}"


# -- runs: baselines, levels, resume, settings -----------------------------------------------------------------


def test_relative_columns_are_exact_against_the_same_seed(done):
    _, runs = done
    assert len(runs) == len(SEEDS) * (len(REGIMES) + len(POLICIES) - 1)
    frame = per_seed(runs, [(r, "none") for r in REGIMES], ("unregulated", "none"))
    base = frame[frame["regime"] == "unregulated"]
    assert (base["Q_rel"] == 1.0).all() and (base["dW"] == 0.0).all()
    by = runs.set_index(["regime", "policy", "seed"])
    for row in frame.itertuples():
        run, unreg = by.loc[(row.regime, "none", row.seed)], by.loc[("unregulated", "none", row.seed)]
        assert row.Q_rel == run["quality"] / unreg["quality"] and row.dW == run["W"] - unreg["W"]
    five = per_seed(runs, [("statutory", p) for p in POLICIES], ("statutory", "none"))
    assert (five.loc[five["policy"] == "none", "dW"] == 0.0).all()
    reference = by.loc[("statutory", "none", REFERENCE_SEED)]
    for seed in SEEDS:  # the cap and the transfer: fixed fractions of the reference run without a policy
        assert by.loc[("statutory", "royalty-cap", seed), "level"] == CAP_FRACTION * reference["price"]
        assert by.loc[("statutory", "transfer", seed), "level"] == TRANSFER_FRACTION * reference["payment"]
        assert by.loc[("statutory", "subsidy", seed), "level"] == 0.05


def test_resume_skips_finished_runs_and_gives_identical_rows(done, tmp_path, monkeypatch):
    folder, runs = done
    out = tmp_path / "resume"
    shutil.copytree(folder, out)
    log = pd.read_csv(out / "runs.csv")
    dropped = (log["regime"] == "statutory") & (((log["seed"] == REFERENCE_SEED) & (log["policy"] == "none"))
                                                | ((log["seed"] == 31) & (log["policy"] == "royalty-cap")))
    write_log(out / "runs.csv", log[~dropped])  # as a run killed before these runs finished leaves it
    calls = []
    real = runs_module._run
    monkeypatch.setattr(runs_module, "_run",
                        lambda cfg, seed: calls.append((cfg.regime, cfg.policy, seed)) or real(cfg, seed))
    again = run_small(out)
    assert calls == [("statutory", "none", REFERENCE_SEED), ("statutory", "royalty-cap", 31)]  # the cap waits
    pd.testing.assert_frame_equal(again, runs, check_exact=True)
    calls.clear()
    progress = []
    pd.testing.assert_frame_equal(run_small(out, on_progress=lambda d, n: progress.append((d, n))), runs,
                                  check_exact=True)
    assert calls == [] and progress == [(len(runs), len(runs))]
    one = simulate(small_cfg(), [31], out, regimes=REGIMES, policies=POLICIES, subsidy=0.05, policy_regime="statutory",
                   workers=1)
    assert calls == [] and set(one["seed"]) == {31}
    pd.testing.assert_frame_equal(one, runs[runs["seed"] == 31].reset_index(drop=True), check_exact=True)
    text = (out / "runs.csv").read_text()
    (out / "runs.csv").write_text(text[:-40])  # a torn last line, as a non-atomic append killed mid-write leaves
    with pytest.raises(ConfigError, match="runs.csv is damaged"):
        run_small(out)


def test_a_folder_with_other_settings_is_refused(done, tmp_path):
    folder, _ = done
    out = tmp_path / "other"
    shutil.copytree(folder, out)
    with pytest.raises(ConfigError, match=r"config.n_producers: 64 there, 65 now"):
        simulate(small_cfg(n_producers=65), SEEDS, out, regimes=REGIMES, workers=1)
    with pytest.raises(ConfigError, match=r"table5.subsidy: 0.05 there, 0.1 now"):
        simulate(small_cfg(), SEEDS, out, policies=POLICIES, subsidy=0.1, policy_regime="statutory", workers=1)
    for kwargs, match in (({"regimes": ["nope"]}, "unknown regime"), ({"policies": ["nope"]}, "unknown policy"),
                          ({"policies": ["subsidy"]}, "subsidy level"), ({"workers": 0}, "--workers")):
        with pytest.raises(ConfigError, match=match):
            simulate(small_cfg(), SEEDS, tmp_path / "fresh", **kwargs)


def test_tables_and_theorem2_files(done, tmp_path):
    _, runs = done
    cfg = small_cfg()
    three = table3(runs, tmp_path, cfg)
    assert set(three["per_seed"]["regime"]) == set(REGIMES) and len(pd.read_csv(tmp_path / "table3.csv")) == 6
    text = (tmp_path / "table3.md").read_text()
    assert "Unregulated (B1)" in text and "(1.187)" in text and "not run: pmir" in text
    assert "the middle 27 are ours" in text
    five = table5(runs, tmp_path, cfg, policy_regime="statutory")
    assert list(five["summary"]["policy"].unique()) == list(POLICIES)
    assert five["summary"].set_index(["policy", "metric"]).loc[("subsidy", "dW"), "paper"] == TABLE_V["subsidy"].dw
    assert "holds" in (tmp_path / "table5.md").read_text()
    residual = theorem2(runs, tmp_path).set_index("row")
    by = runs[(runs["regime"] == "shapley") & (runs["policy"] == "none")]
    assert residual.loc["shapley", "residual"] == pytest.approx((by["W_realized"] - by["W"]).mean())
    assert "statutory + disclosure" in residual.index
    assert all((tmp_path / f).stat().st_size > 0 for f in ("table3.png", "table5.png", "theorem2.png"))


# -- CLI -------------------------------------------------------------------------------------------------------


def test_cli_table3_in_a_process_pool_matches_in_process_runs(done, tmp_path):
    _, runs = done
    config = tmp_path / "small.toml"
    config.write_text("".join(f"{k} = {v}\n" for k, v in SMALL.items()))
    out = tmp_path / "cli"
    result = runner.invoke(app, ["reproduce", "table3", "--seeds", "2", "--regimes", "unregulated,shapley",
                                 "--workers", "2", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Shapley-only (B3)" in result.output and "Q (rel.): shapley > unregulated" in result.output
    pooled = pd.read_csv(out / "runs.csv").sort_values(["regime", "seed"]).reset_index(drop=True)
    alone = runs[runs["regime"].isin(["unregulated", "shapley"])]
    alone = alone.sort_values(["regime", "seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(pooled, alone, check_exact=True)  # same seed, other process: identical numbers
    assert len(pd.read_csv(out / "table3.csv")) == 4 and (out / "table3.png").exists()


@pytest.mark.parametrize("args, message", [
    (["table3", "--seeds", "0"], "between 1 and 32"),
    (["table5", "--seeds", "33"], "between 1 and 32"),
    (["table3", "--regimes", "unregulated,nope"], "unknown regime"),
    (["table3", "--regimes", ","], "empty list"),
    (["table3", "--workers", "0", "--seeds", "1"], "--workers"),
    (["table7"], "No such command"),
])
def test_cli_bad_input_exits_2_with_a_clear_message(args, message, tmp_path):
    result = runner.invoke(app, ["reproduce", *args, *(["--out", str(tmp_path)] if args != ["table7"] else [])])
    assert result.exit_code == 2 and message in result.output, result.output
