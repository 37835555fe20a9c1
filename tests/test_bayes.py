"""Bayesian calibration (`calibration.bayes`, `sdce calibrate bayes`): NUTS recovers known parameters inside the 90%
credible interval with R-hat < 1.01 and no divergences; the custom VJP is the reverse-mode gradient; an interrupted
run resumes to the same draws; bad input is refused before any work."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from calibration.bayes import (
    bayes_calibration,
    check_bayes,
    describe_prior,
    forward_jacobian_moments,
    prior,
    sample_posterior,
)
from calibration.moment_map import MomentMap
from calibration.orderings import ORDERINGS
from calibration.targets import Target, model_moments
from sdce.cli import app
from sdce.config import make_config
from sdce.errors import ConfigError

runner = CliRunner()
SMALL = make_config(n_producers=64, n_trainers=4, generations=3)
SMALL_TOML = "n_producers = 64\nn_trainers = 4\ngenerations = 3\n"
TRUTH = {"temperature": 0.7, "kappa_q": 3.5}
UNREGULATED = ["rho_T:unregulated", "quality_T:unregulated", "welfare_T:unregulated", "w2_T:unregulated"]
NODES = 8  # 8² = 64 producer types: the small problem


def _targets(names, truth=TRUTH, cfg=SMALL):
    """Targets from the NumPy solver (`solve_meanfield`, not the traced moments) at `truth` and the small problem's
    types, se 1% of each."""
    values = model_moments(cfg.replace(**truth), names, NODES)
    return [Target(n, float(values[n]), max(0.01 * abs(float(values[n])), 1e-3)) for n in names]


def test_priors_cover_the_admissible_ranges_as_stated():
    uniform, lognormal = prior(SMALL, "temperature"), prior(SMALL, "kappa_q")
    assert (float(uniform.low), float(uniform.high)) == (0.0, 1.0)
    draws = np.asarray(lognormal.sample(jax.random.PRNGKey(0), (20000,)))
    assert np.all(draws > 0)
    assert np.median(draws) == pytest.approx(SMALL.kappa_q, rel=0.05)  # median = the configuration's value
    assert np.std(np.log(draws)) == pytest.approx(1.0, rel=0.05)
    assert describe_prior(SMALL, "temperature") == "Uniform(0, 1)"
    assert describe_prior(SMALL, "kappa_q") == "LogNormal(log 5, 1)"


def test_the_custom_vjp_is_the_reverse_mode_gradient():
    """The backward pass by the forward-mode Jacobian against jax.grad through the continuum itself."""
    moment_map = MomentMap(SMALL, UNREGULATED, ("temperature", "kappa_q"), NODES)
    moments = forward_jacobian_moments(moment_map)
    weights = jnp.array([0.3, -1.2, 2.0, 0.7])
    theta = jnp.array([0.72, 3.1])
    custom = jax.grad(lambda t: weights @ moments(t)[0])(theta)
    direct = jax.grad(lambda t: weights @ moment_map._evaluate(t)[0])(theta)
    assert np.asarray(custom) == pytest.approx(np.asarray(direct), rel=1e-4, abs=1e-6)
    assert np.all(np.asarray(custom) != 0)


def test_nuts_recovers_known_parameters_inside_the_90_percent_interval(tmp_path):
    """4 chains x 400 draws on the small problem, started over the prior's range: the truth inside each 90% HDI,
    R-hat < 1.01, no divergence, and the posterior predictive of every target centred on it."""
    summary = bayes_calibration(SMALL, _targets(UNREGULATED), tuple(TRUTH), tmp_path, chains=4, draws=400,
                                warmup=400, seed=3, ordering_draws=0, type_nodes=NODES, init="prior")
    for name, value in TRUTH.items():
        row = summary["params"][name]
        assert row["hdi_5"] < value < row["hdi_95"], (name, row)
        assert row["r_hat"] < 1.01 and row["ess_bulk"] > 200, (name, row)
    assert summary["divergences"] == 0
    assert all(abs(r["z"]) < 1 and 0.05 < r["p_value"] < 0.95 for r in summary["predictive"]), summary["predictive"]
    assert {p.name for p in tmp_path.iterdir()} >= {"posterior.nc", "summary.csv", "predictive.csv", "trace.png",
                                                    "pair.png", "predictive.png", "bayes.json"}
    import arviz as az

    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert idata.posterior["temperature"].shape == (4, 400)
    assert float(idata.posterior["temperature"].mean()) == pytest.approx(summary["params"]["temperature"]["mean"])


@pytest.mark.slow  # three NUTS compilations, about 65 s on 2 cores
def test_an_interrupted_run_resumes_to_the_same_draws(tmp_path):
    """Stopped after its first checkpoint, then rerun: the draws equal those of one uninterrupted run; a damaged
    checkpoint is refused."""
    targets, names = _targets(["quality_T:unregulated", "w2_T:unregulated"], {"kappa_q": 3.5}), ("kappa_q",)
    settings = dict(chains=2, draws=30, warmup=30, seed=5, type_nodes=NODES, init="prior")
    whole = sample_posterior(SMALL, targets, names, folder=None, **settings)

    def stop(done, total):
        if done == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_posterior(SMALL, targets, names, folder=tmp_path, on_step=stop, **settings)
    resumed = sample_posterior(SMALL, targets, names, folder=tmp_path, **settings)
    assert np.array_equal(resumed.draws["kappa_q"], whole.draws["kappa_q"])
    assert np.array_equal(resumed.stats["diverging"], whole.stats["diverging"])
    (tmp_path / "checkpoint.npz").write_bytes((tmp_path / "checkpoint.npz").read_bytes()[:-40])
    with pytest.raises(ConfigError, match="checkpoint.npz is damaged"):
        sample_posterior(SMALL, targets, names, folder=tmp_path, **settings)


def test_bad_input_is_refused_before_any_work(tmp_path):
    good = [Target("quality_T:unregulated", 0.6, 0.01)]
    for kwargs, message in ((dict(chains=0), "chains must be >= 1"), (dict(draws=0), "draws must be >= 1"),
                            (dict(warmup=0), "warmup must be >= 1"), (dict(ordering_draws=-1), "ordering_draws"),
                            (dict(ordering_draws=9, chains=2, draws=4), "exceeds the 8 posterior draws"),
                            (dict(init="mode"), "init must be one of smm, prior")):
        settings = dict(chains=4, draws=10, warmup=10, ordering_draws=0) | kwargs
        with pytest.raises(ConfigError, match=message):
            check_bayes(good, ("kappa_q",), **settings)
    with pytest.raises(ConfigError, match="no usable derivative"):
        check_bayes([Target("quality_T:pmir", 0.6, 0.01)], ("kappa_q",), 4, 10, 10, 0)
    targets = tmp_path / "t.csv"
    for text, message in (("moment,value,se\nquality_T:nowhere,0.5,0.1\n", "moment 'quality_T:nowhere'"),
                          ("moment,value\nquality_T:shapley,0.5\n", "missing column"),
                          ("moment,value,se\nquality_T:shapley,0.5,0\n", "se must be > 0"),
                          ("moment,value,se\n", "no targets")):
        targets.write_text(text)
        result = runner.invoke(app, ["calibrate", "bayes", "--targets", str(targets), "--out", str(tmp_path / "o")])
        assert result.exit_code != 0 and message in result.output, (text, result.output)
        assert not (tmp_path / "o").exists()
    targets.write_text("moment,value,se\nquality_T:shapley,0.5,0.01\n")
    for args, message in ((["--params", "n_producers"], "is not calibratable"), (["--chains", "0"], "chains"),
                          (["--subsidy", "-1"], "subsidy"), (["--init", "mode"], "init must be one of")):
        result = runner.invoke(app, ["calibrate", "bayes", "--targets", str(targets), "--out", str(tmp_path / "o"),
                                     *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_sdce_calibrate_bayes_reports_the_posterior_and_the_orderings(tmp_path):
    """The command end to end at the small configuration (1024 types): JSON keys, files, a probability per
    ordering, and the held-out PMIR moment's predictive."""
    targets = tmp_path / "targets.csv"
    values = model_moments(SMALL.replace(**TRUTH), [*UNREGULATED, "quality_rel:pmir"])
    rows = [Target(n, float(v), max(0.01 * abs(float(v)), 1e-3)) for n, v in values.items()]
    targets.write_text("moment,value,se\n" + "".join(f"{t.moment},{t.value!r},{t.se!r}\n" for t in rows))
    config = tmp_path / "small.toml"
    config.write_text(SMALL_TOML)
    out = tmp_path / "bayes"
    result = runner.invoke(app, ["calibrate", "bayes", "--targets", str(targets), "--params", "temperature,kappa_q",
                                 "--chains", "2", "--draws", "40", "--warmup", "40", "--ordering-draws", "3",
                                 "--subsidy", "0.05", "--config", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) >= {"params", "divergences", "orderings", "path"}
    assert set(summary["params"]["kappa_q"]) >= {"mean", "sd", "hdi_5", "hdi_95", "r_hat", "ess_bulk"}
    assert set(summary["orderings"]) == set(ORDERINGS)
    assert all(p in (0.0, 1 / 3, 2 / 3, 1.0) for p in summary["orderings"].values())
    held = [r for r in summary["predictive"] if not r["in_fit"]]
    assert [r["moment"] for r in held] == ["quality_rel:pmir"]
    assert summary["levels"]["subsidy"] == 0.05 and summary["levels"]["royalty-cap"] > 0
    assert (out / "posterior.nc").exists() and (out / "predictive.png").exists()
