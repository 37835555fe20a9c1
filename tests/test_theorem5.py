"""Theorem 5 / eq. (11): the running-mean provenance estimator attains the Cramér–Rao bound 1/(T I)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sdce.cli import app
from sdce.config import make_config
from sdce.economics.signals import fisher_information, running_mean, signal_variance
from sdce.experiments.theorem5 import estimator_variance


def test_running_mean_is_the_sample_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    m = np.zeros(3)
    for t, row in enumerate(x, start=1):
        m = running_mean(m, t, row)
    np.testing.assert_allclose(m, x.mean(axis=0), rtol=1e-12)


def test_variance_meets_the_cramer_rao_bound_with_constant_one():
    result = estimator_variance(make_config(n_producers=256), [1, 3, 10, 30], reps=1000, seed=1)
    np.testing.assert_allclose(result["ratio"], 1.0, atol=0.03)
    assert result["slope"] == pytest.approx(-1.0, abs=0.01)
    assert max(result["mean_abs_bias"]) < 3 * np.sqrt(result["cramer_rao"][0] / 1000)


def test_the_bound_binds_other_unbiased_estimators():
    """The median of T Gaussian signals is unbiased but has variance about (pi/2) / (T I): above the bound."""
    noise_var = float(signal_variance(0.3, 0.5))
    rng = np.random.default_rng(2)
    t = 15
    medians = np.median(0.6 + np.sqrt(noise_var) * rng.standard_normal((20000, t)), axis=1)
    ratio = medians.var() / (1.0 / (t * float(fisher_information(noise_var))))
    assert 1.3 < ratio < 1.7


def test_detectability_raises_information_and_disclosure_makes_signals_exact():
    weak, strong = (make_config(policy="watermark", watermark=w).levers().psi for w in (0.5, 2.0))
    assert fisher_information(signal_variance(0.3, strong)) > fisher_information(signal_variance(0.3, weak))
    exact = estimator_variance(make_config(n_producers=64, policy="disclosure"), [1, 4], reps=50)
    assert exact["cramer_rao"] == [0.0, 0.0] and max(exact["variance"]) < 1e-20 and exact["slope"] is None


def test_cli_theorem5(tmp_path):
    result = CliRunner().invoke(app, ["theorem5", "--horizons", "1,4", "--reps", "200", "--out", str(tmp_path),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) >= {"variance", "cramer_rao", "ratio", "slope"}
    assert (tmp_path / "theorem5.png").exists()
    bad = CliRunner().invoke(app, ["theorem5", "--horizons", "0,2"])
    assert bad.exit_code == 2 and "horizons must be distinct integers >= 1" in bad.output
