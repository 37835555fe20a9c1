"""Structural calibration (`calibration.parameters`, `calibration.moment_map`, `calibration.smm`, `sdce calibrate
smm`): the moments as a differentiable function of traced parameters agree with the NumPy continuum and with finite
differences; the fit recovers known parameters; bad input is refused before any work."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from typer.testing import CliRunner

from calibration.moment_map import MomentMap, check_diagnostics
from calibration.parameters import parse_params, to_natural, to_unconstrained
from calibration.smm import check_smm, sandwich_se
from calibration.targets import Target, model_moments, parse_moment
from meanfield.solve import solve_meanfield
from sdce.cli import app
from sdce.config import make_config
from sdce.dataworld.metrics import bures_trace
from sdce.economics.intermediary import efficient_provenance
from sdce.errors import ConfigError

runner = CliRunner()
SMALL = make_config(n_producers=64, n_trainers=4, generations=3)
SMALL_TOML = "n_producers = 64\nn_trainers = 4\ngenerations = 3\n"


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.3 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_bures_trace_is_the_eigendecomposition_trace_and_differentiates(d):
    rng = np.random.default_rng(d)
    s1, s2 = _spd(rng, d), _spd(rng, d)
    root = scipy.linalg.sqrtm(s1)
    exact = np.trace(scipy.linalg.sqrtm(root @ s2 @ root)).real
    assert float(bures_trace(s1, s2)) == pytest.approx(exact, rel=1e-8)
    direction = _spd(rng, d)

    def along(h):
        return np.trace(scipy.linalg.sqrtm(scipy.linalg.sqrtm(s1 + h * direction) @ s2
                                           @ scipy.linalg.sqrtm(s1 + h * direction))).real

    slope = jax.jvp(lambda x: bures_trace(x, jnp.asarray(s2)), (jnp.asarray(s1),), (jnp.asarray(direction),))[1]
    assert float(slope) == pytest.approx((along(1e-5) - along(-1e-5)) / 2e-5, rel=1e-5)


def test_parameters_are_checked_by_name_and_transforms_invert():
    assert parse_params("temperature, kappa_q") == ("temperature", "kappa_q")
    for text, message in (("n_producers", "is not calibratable"), ("gamma", "is not a parameter"),
                          ("kappa_q,kappa_q", "named twice"), ("", "comma-separated")):
        with pytest.raises(ConfigError, match=message):
            parse_params(text)
    names = ("temperature", "kappa_q", "cost_human", "nu_mean")
    x = np.array([0.65, 3.0, 0.2, 0.9])
    assert np.asarray(to_natural(jnp.asarray(to_unconstrained(x, names)), names)) == pytest.approx(x, rel=1e-6)
    with pytest.raises(ConfigError, match=r"temperature = 1.5: .* inside \(0.0, 1.0\)"):
        to_unconstrained([1.5, 3.0, 0.2, 0.9], names)


def test_the_fixed_rho_continuum_holds_rho_and_orders_quality():
    paths = {rho: solve_meanfield(SMALL.replace(fixed_rho=rho, generations=4)) for rho in (0.02, 0.5, 0.9)}
    for rho, result in paths.items():
        assert np.asarray(result["rho"]) == pytest.approx(rho, abs=1e-6)
    ratio = {rho: np.asarray(r["quality"])[1:] / np.asarray(r["quality"])[0] for rho, r in paths.items()}
    assert ratio[0.02] == pytest.approx(1.0, abs=1e-3)  # almost all human: almost no collapse
    assert np.all(ratio[0.9] < ratio[0.5]) and np.all(ratio[0.5] < 1) and np.all(np.diff(ratio[0.9]) < 0)
    moments = model_moments(SMALL, ["q_ratio:rho=0.9:t=4", "q_ratio:rho=0.5:t=2"])
    assert moments["q_ratio:rho=0.9:t=4"] == pytest.approx(ratio[0.9][3])
    assert moments["q_ratio:rho=0.5:t=2"] == pytest.approx(ratio[0.5][1])
    assert parse_moment("q_ratio:rho=0.3:t=5") == ("q_ratio", "unregulated", 0.3, 5)
    for bad in ("q_ratio:rho=1.2:t=3", "q_ratio:rho=0:t=3", "q_ratio:rho=0.3", "q_ratio:rho=0.3:t=0",
                "q_ratio:rho=0.3:t=2:x=1"):
        with pytest.raises(ConfigError, match="q_ratio:rho=R:t=T"):
            parse_moment(bad)


NAMES = ["rho_T:unregulated", "quality_T:statutory", "welfare_T:statutory", "quality_rel:shapley",
         "delta_welfare:intermediary", "w2_T:intermediary", "q_ratio:rho=0.7:t=3"]
SOLVES = ["rho_T:statutory", "welfare_T:statutory", "quality_T:intermediary", "w2_T:intermediary"]
PARAMS = ("temperature", "kappa_q", "cost_human", "nu_mean")
THETA = np.array([0.7, 4.0, 0.6, 0.4])


def _central(values, theta, k):
    """Central difference of `values` (theta -> array) in parameter k, with a 1% step (float32 round-off stays
    below the difference's truncation error)."""
    h = 1e-2 * max(1.0, theta[k])
    step = np.eye(len(theta))[k] * h
    return (values(theta + step) - values(theta - step)) / (2 * h)


def test_reverse_mode_through_the_solves_matches_central_differences():
    """`jax.grad` of a weighted sum of moments through the continuum's trajectories, the statutory Newton solve
    and the intermediary's bisection inside them, against central differences of the same sum. Reverse mode does
    not pass through a `while_loop`: without the implicit differentiation (`jax.lax.custom_root`) this does not
    run, and with the statutory solve's gradient stopped it gives other numbers (the intermediary's root is checked
    on its own below). At a royalty of 0.2 bundle demand is interior (at Table I's 0.01 every trainer buys every
    unit and the solve's root does not move with the parameters). One compiled function gives the sum and its
    gradient."""
    moment_map = MomentMap(SMALL.replace(generations=2, royalty=0.2), SOLVES, PARAMS, type_nodes=8)
    weights = jnp.linspace(1.0, 2.0, len(SOLVES))

    def weighted(theta):
        moments, diagnostics = moment_map._evaluate(theta)
        return weights @ moments, diagnostics

    value_and_grad = jax.jit(jax.value_and_grad(weighted, has_aux=True))

    def value(theta):
        (total, diagnostics), _ = value_and_grad(jnp.asarray(theta, jnp.float32))
        check_diagnostics(diagnostics, dict(zip(PARAMS, theta)))
        return float(total)

    gradient = np.asarray(value_and_grad(jnp.asarray(THETA, jnp.float32))[1])
    central = np.array([_central(value, THETA, k) for k in range(len(PARAMS))])
    assert gradient == pytest.approx(central, rel=2e-2, abs=2e-3)
    assert np.abs(central).max() > 0.05  # the moments move with the parameters: the check has something to compare


def test_the_intermediarys_root_is_differentiated_implicitly():
    """λ = R'(H^opt) of the intermediary's efficient provenance (a bisection under JAX, `custom_root`) in c_H by
    reverse and forward mode against central differences of the float64 NumPy bisection. Where the root moves
    (some producers interior): with the root's gradient stopped, dλ/dc_H would be 0."""
    k = 6
    args = dict(capacity=np.ones(k), nu=np.linspace(0.1, 0.5, k), phi_bar=np.full(k, 0.9), z=np.full(3, 0.3),
                collapse=np.ones(3), gamma=0.5, delta=0.3, money_per_quality=np.float64(1.0), cost_quadratic=1.0)
    traced = {key: jnp.asarray(v, jnp.float32) if isinstance(v, np.ndarray) else v for key, v in args.items()}
    phi, _ = efficient_provenance(**args, cost_human=0.6)
    assert np.any((phi > 0) & (phi < 0.9))
    h = 1e-5
    up, down = (efficient_provenance(**args, cost_human=0.6 + s * h) for s in (1, -1))
    slope = jax.grad(lambda c: efficient_provenance(**traced, cost_human=c)[1])(jnp.float32(0.6))
    assert float(slope) == pytest.approx((up[1] - down[1]) / (2 * h), rel=1e-4) and abs(float(slope)) > 0.1
    response = jax.jacfwd(lambda c: efficient_provenance(**traced, cost_human=c)[0])(jnp.float32(0.6))
    assert np.asarray(response) == pytest.approx((up[0] - down[0]) / (2 * h), abs=1e-4)


@pytest.mark.slow
def test_the_traced_moments_and_their_derivatives_are_the_numpy_continuums():
    """Every kind of run (four regimes, a fixed-rho run) at the default quadrature: the traced moments equal
    `model_moments` (`solve_meanfield`), and their derivatives its central differences."""
    moment_map = MomentMap(SMALL, NAMES, PARAMS, type_nodes=32)
    direct = model_moments(SMALL.replace(**dict(zip(PARAMS, THETA))), NAMES)
    assert moment_map.checked(THETA) == pytest.approx([direct[n] for n in NAMES], rel=2e-4, abs=2e-5)
    central = np.empty((len(NAMES), len(PARAMS)))
    for k, name in enumerate(PARAMS):
        h = 1e-2 * max(1.0, THETA[k])
        up, down = (model_moments(SMALL.replace(**{name: THETA[k] + s * h}), NAMES) for s in (1, -1))
        central[:, k] = [(up[n] - down[n]) / (2 * h) for n in NAMES]
    at = jnp.asarray(THETA, jnp.float32)
    forward = np.asarray(jax.jit(jax.jacfwd(lambda th: moment_map._evaluate(th)[0]))(at))
    scale = np.abs(central).max(axis=1, keepdims=True) + 1e-3
    assert np.all(np.abs(forward - central) / scale < 2e-2), (forward, central)
    weights = jnp.linspace(1.0, 2.0, len(NAMES))
    reverse = np.asarray(jax.jit(jax.grad(lambda th: weights @ moment_map._evaluate(th)[0]))(at))
    assert reverse == pytest.approx(np.asarray(weights) @ central, rel=2e-2, abs=2e-3)


def test_the_sandwich_reduces_to_the_inverse_information_when_weights_are_the_precision():
    rng = np.random.default_rng(3)
    g, se = rng.standard_normal((7, 3)), rng.uniform(0.1, 1.0, 7)
    expected = np.sqrt(np.diag(np.linalg.inv(g.T @ np.diag(se ** -2) @ g)))
    assert sandwich_se(g, se) == pytest.approx(expected, rel=1e-10)
    assert np.all(np.isinf(sandwich_se(np.column_stack([g[:, 0], g[:, 0]]), se)))


def test_a_fit_needs_fittable_moments():
    with pytest.raises(ConfigError, match="no target can be fitted"):
        check_smm([Target("rho_T:pmir", 0.4, 0.01)], ["kappa_q"], 1)
    with pytest.raises(ConfigError, match="cannot identify 2 parameters"):
        check_smm([Target("rho_T:statutory", 0.4, 0.01)], ["kappa_q", "temperature"], 1)


GOOD_ROWS = "moment,value,se\nrho_T:statutory,0.6,0.05\nquality_T:statutory,0.5,0.05\n"


@pytest.mark.parametrize("rows,args,message", [
    (GOOD_ROWS, ["--params", "n_producers"], "is not calibratable"),
    (GOOD_ROWS, ["--params", "kappa_q,speed"], "is not a parameter"),
    (GOOD_ROWS, ["--starts", "0"], "starts"),
    ("moment,value,se\nrho_T:pmir,0.4,0.01\n", [], "no target can be fitted"),
    ("moment,value\nrho_T:statutory,0.4\n", [], "missing column"),
    ("moment,value,se\nrho_T:statutory,0.4,0\n", [], "se must be > 0"),
    ("moment,value,se\nrho_T:pirate,0.4,0.1\n", [], "REGIME one of"),
    ("", [], "missing column"),
], ids=["not-calibratable", "not-a-parameter", "starts", "pmir-only", "no-se", "se-zero", "regime", "empty"])
def test_smm_refuses_bad_input_before_any_work(tmp_path, rows, args, message):
    targets = tmp_path / "targets.csv"
    targets.write_text(rows)
    result = runner.invoke(app, ["calibrate", "smm", "--targets", str(targets), "--out", str(tmp_path / "out"),
                                 *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_smm_recovers_known_parameters_within_two_se(tmp_path):
    """Targets from the continuum's solver (`solve_meanfield`) at non-default parameters, fitted through the traced
    moments by `sdce calibrate smm`."""
    truth = {"temperature": 0.7, "kappa_q": 3.5}
    names = ["rho_T:unregulated", "quality_T:unregulated", "welfare_T:unregulated", "w2_T:unregulated"]
    values = model_moments(SMALL.replace(**truth), names)
    targets = tmp_path / "targets.csv"
    rows = [(n, float(values[n]), max(0.01 * abs(float(values[n])), 1e-3)) for n in names]
    targets.write_text("moment,value,se\n" + "".join(f"{n},{v!r},{se!r}\n" for n, v, se in rows))
    config = tmp_path / "small.toml"
    config.write_text(SMALL_TOML)
    out = tmp_path / "fit"
    result = runner.invoke(app, ["calibrate", "smm", "--targets", str(targets), "--params", "temperature,kappa_q",
                                 "--starts", "2", "--config", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert fit["converged"] and len(fit["starts"]) == 2 and fit["loss"] < 1.0
    for name, value in truth.items():
        assert 0 < fit["se"][name] < np.inf
        assert abs(fit["params"][name] - value) < 2 * fit["se"][name], (name, fit["params"], fit["se"])
    assert [m["moment"] for m in fit["moments"]] == names
    assert all(abs(m["z"]) < 1 for m in fit["moments"])
    assert {p.name for p in out.iterdir()} >= {"fit.csv", "moments.csv", "fit.json", "fit.png"}
