"""The recursive-retraining loop (docs/model.md §11) on the text domain at tiny size: learning beats the unigram floor,
temperature behaves, runs resume to the identical panel, and bad input is refused before any work."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from calibration.retrain.domain import train
from calibration.retrain.loop import make_retrain_config, run_retraining
from calibration.retrain.text import PAD, corpus, text_domain, unigram_perplexity
from sdce.cli import app
from sdce.errors import ConfigError

runner = CliRunner()


@pytest.fixture(scope="module")
def trained():
    domain = text_domain("tiny")
    data = domain.draw_human(jax.random.PRNGKey(0), domain.items_per_generation)
    params, loss = jax.jit(lambda k, d: train(domain, k, d, d.shape[0]))(jax.random.PRNGKey(1), data)
    return domain, params, float(loss)


def test_rho_zero_training_beats_the_unigram_model(trained):
    domain, params, loss = trained
    perplexity = float(domain.evaluate(params)["perplexity"])
    untrained = float(domain.evaluate(domain.init(jax.random.PRNGKey(2)))["perplexity"])
    assert perplexity < 0.75 * unigram_perplexity("tiny") < untrained
    assert np.isfinite(loss)


def test_corpus_split_is_frozen_and_disjoint():
    train_ids, held_ids, vocab = corpus()
    assert len(held_ids) > 0.08 * (len(train_ids) + len(held_ids))
    assert train_ids.min() >= 1 and held_ids.min() >= 1 and max(train_ids.max(), held_ids.max()) < len(vocab)


def test_temperature_to_zero_collapses_diversity(trained):
    domain, params, _ = trained
    cold = np.asarray(domain.sample(jax.random.PRNGKey(3), params, 64, 1e-4))
    warm = np.asarray(domain.sample(jax.random.PRNGKey(3), params, 64, 1.0))
    assert len({tuple(c) for c in cold}) == 1  # tau -> 0 is greedy decoding: every chunk is the same
    assert len({tuple(c) for c in warm}) == 64
    assert (cold != PAD).all() and (warm != PAD).all()


def test_temperature_one_reproduces_the_models_own_distribution(trained):
    domain, params, _ = trained
    n = 20000
    first = np.asarray(domain.sample(jax.random.PRNGKey(4), params, n, 1.0)[:, 0])
    logits = domain_logits(domain, params)
    probs = np.asarray(jax.nn.softmax(logits.at[PAD].set(-jnp.inf)))
    empirical = np.bincount(first, minlength=probs.size) / n
    tv = 0.5 * np.abs(empirical - probs).sum()
    expected = 0.5 * np.sqrt(probs * (1 - probs) / n).sum()  # E|p̂ - p| <= sqrt(var) per symbol
    assert tv < 3 * expected, (tv, expected)


def domain_logits(domain, params):
    """Logits of the first character (all-pad context), through the model the sampler uses."""
    from calibration.retrain.text import TEXT_SIZES, CharMLP

    chunk, context, embed, hidden, *_ = TEXT_SIZES["tiny"]
    model = CharMLP(domain.info["vocab"], embed, hidden)
    return model.apply(params, jnp.full((1, context), PAD, jnp.int32))[0]


def _cfg(**kw):
    return make_retrain_config(domain="text", size="tiny", rhos="0.2,0.9", generations=3, seeds=2, **kw)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    return run_retraining(_cfg(), folder), folder


def test_interrupted_run_resumes_to_the_identical_panel(tmp_path, full_run):
    full, _ = full_run

    class Interrupt(Exception):
        pass

    done = []

    def stop_after_some(k):
        done.append(k)
        if sum(done) >= 6:  # seed 0 through generation 2
            raise Interrupt

    with pytest.raises(Interrupt):
        run_retraining(_cfg(), tmp_path / "cut", on_cells=stop_after_some)
    partial = pd.read_csv(tmp_path / "cut" / "panel.csv")
    assert partial["generation"].max() == 2 and set(partial["seed"]) == {0}
    resumed_cells = []
    resumed = run_retraining(_cfg(), tmp_path / "cut", on_cells=resumed_cells.append)
    assert sum(resumed_cells) == 2 * 2 * 4
    pd.testing.assert_frame_equal(resumed, full)
    on_disk = pd.read_csv(tmp_path / "cut" / "panel.csv").sort_values(list(full.columns[:5]))
    assert len(on_disk) == len(full)


def test_panel_is_tidy_and_contamination_hurts(full_run):
    panel, _ = full_run
    assert list(panel.columns) == ["domain", "rho", "generation", "seed", "metric", "value"]
    assert set(panel["metric"]) == {"perplexity", "train_loss"}
    ppl = panel[panel["metric"] == "perplexity"].pivot_table(index="generation", columns="rho", values="value")
    assert ppl.loc[0, 0.2] == ppl.loc[0, 0.9]  # generation 0 is human-only and shared (common random numbers)
    assert ppl.loc[3, 0.9] > ppl.loc[3, 0.2]


def test_accumulate_differs_from_replace(tmp_path, full_run):
    replace, _ = full_run
    accumulate = run_retraining(_cfg(data_mode="accumulate"), tmp_path / "a")
    later = lambda p: p[(p.generation > 0) & (p.metric == "perplexity")]["value"].to_numpy()  # noqa: E731
    assert not np.allclose(later(replace), later(accumulate))


def test_a_folder_refuses_other_settings(tmp_path):
    run_retraining(make_retrain_config(domain="text", size="tiny", rhos="0.5", generations=1), tmp_path)
    with pytest.raises(ConfigError, match="other settings.*tau"):
        run_retraining(make_retrain_config(domain="text", size="tiny", rhos="0.5", generations=1, tau=0.5), tmp_path)


def test_cli_retrain_json(tmp_path):
    result = runner.invoke(app, ["retrain", "--domain", "text", "--size", "tiny", "--rho", "0,0.9", "--generations",
                                 "2", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= {"panel", "path"} and len(out["panel"]) == 2 * 3 * 2
    assert (tmp_path / "panel.csv").exists() and (tmp_path / "panel.png").exists()


@pytest.mark.parametrize("args,message", [
    (["retrain", "--rho", "0.1,1.2"], "every rho must lie in [0, 1]"),
    (["retrain", "--rho", "0.1,x"], "rhos: expected comma-separated numbers"),
    (["retrain", "--domain", "audio"], "domain"),
    (["retrain", "--generations", "0"], "generations"),
    (["retrain", "--tau", "0"], "tau"),
    (["retrain", "--size", "huge"], "size"),
    (["calibrate", "ols"], "exactly one of --panel"),
    (["calibrate", "ols", "--source", "table9"], "--source"),
    (["calibrate", "ols", "--panel", "/nonexistent/panel.csv"], "not found"),
])
def test_bad_input_is_a_clear_error(args, message, tmp_path):
    result = runner.invoke(app, args + ["--out", str(tmp_path)] if args[0] == "retrain" else args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "panel.csv").exists()


@pytest.mark.parametrize("content,message", [("", "empty"), ("rho,generation\n0.1,1\n", "missing"),
                                             ("a,b\n\"unclosed\n", "")])
def test_cli_rejects_empty_or_malformed_panels(tmp_path, content, message):
    path = tmp_path / "panel.csv"
    path.write_text(content)
    result = runner.invoke(app, ["calibrate", "ols", "--panel", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_calibrate_ols_on_paper_table4_and_on_our_panel(full_run):
    result = runner.invoke(app, ["calibrate", "ols", "--source", "paper-table4", "--json"])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert {"b", "se_hac", "r2", "n"} <= set(fit) and fit["n"] == 30
    result = runner.invoke(app, ["calibrate", "ols", "--panel", str(full_run[1] / "panel.csv"), "--json"])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert fit["metric"] == "perplexity" and fit["n"] == 2 * 3
