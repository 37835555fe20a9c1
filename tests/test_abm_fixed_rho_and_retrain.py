"""The ABM with rho held fixed (the Table IV experiment) and with trained Flax models as its technology."""

import math

import numpy as np
import pytest

from calibration.abm_panel import abm_collapse_panel
from meanfield.solve import solve_meanfield
from sdce.config import make_config
from sdce.errors import ConfigError
from sdce_abm.model import SDCEModel
from tests.conftest import SMALL


def _run(**kw):
    model = SDCEModel(**{**SMALL, **kw})
    model.run_model()
    return model


def test_fixed_rho_holds_contamination_in_every_regime(regime):
    model = _run(seed=3, regime=regime, fixed_rho=0.7)
    rho = model.datacollector.get_model_vars_dataframe()["rho"].to_numpy()
    np.testing.assert_allclose(rho, 0.7, atol=1e-12)


def test_fixed_rho_moves_quality_only_through_the_collapse_channel():
    model = _run(seed=5, fixed_rho=0.5, kappa_q=3.0)
    per_trainer = model.datacollector.get_agenttype_vars_dataframe(type(model.trainers[0]))
    q = per_trainer["quality"].unstack().to_numpy()
    d = per_trainer["fidelity"].unstack().to_numpy()
    np.testing.assert_allclose(q / q[0], np.exp(-3.0 * (d - d[0])), rtol=1e-10)


def test_abm_panel_relative_quality_starts_at_one_and_falls_faster_at_high_rho():
    cfg = make_config(**{**SMALL, "generations": 6})
    panel = abm_collapse_panel(cfg, [0.1, 0.9], [1, 2])
    rel = panel[panel.metric == "relative_quality"].groupby(["rho", "generation"])["value"].mean()
    assert rel[(0.1, 0)] == rel[(0.9, 0)] == 1.0
    assert rel[(0.9, 6)] < rel[(0.1, 6)]


def test_fixed_rho_out_of_range_names_the_parameter():
    with pytest.raises(ConfigError, match="fixed_rho"):
        make_config(fixed_rho=1.5)


def test_meanfield_refuses_the_retrain_technology():
    with pytest.raises(ConfigError, match="mean-field limit covers"):
        solve_meanfield(make_config(technology="retrain"))


@pytest.fixture(scope="module")
def retrained():
    kw = dict(n_producers=32, n_trainers=3, generations=2, probe_size=64, technology="retrain",
              retrain_domain="text", retrain_size="tiny", samples_per_unit=4.0, regime="statutory")
    return [_run(seed=11, **kw) for _ in range(2)]


def test_retrain_technology_runs_and_is_reproducible(retrained):
    a, b = retrained
    fa = a.datacollector.get_model_vars_dataframe()
    fb = b.datacollector.get_model_vars_dataframe()
    np.testing.assert_array_equal(fa["quality"].to_numpy(), fb["quality"].to_numpy())
    assert ((fa["rho"] >= 0) & (fa["rho"] <= 1)).all()
    assert np.isfinite(fa["kl"]).all() and (fa["quality"] > 0).all()
    assert fa["w2"].isna().all()  # W2 is defined in the Gaussian data world only
    for entry in a.ledger:  # statutory: what trainers pay is what producers receive
        assert math.isclose(entry["paid_by_trainers"], entry["received_by_producers"], rel_tol=1e-12)


def test_retrain_fidelity_is_excess_cross_entropy_over_the_human_reference(retrained):
    model = retrained[0]
    d = np.array([[t.fidelity for t in model.trainers]])
    assert np.isfinite(model.retrainer.reference_perplexity)
    assert np.abs(d).max() < 1.0  # nats per character: a trained model is near the human reference
