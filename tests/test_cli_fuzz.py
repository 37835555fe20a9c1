"""Property: every option of every command refuses generated bad values before any work (issue 16).

Hypothesis draws a command, one of its options and a value outside the option's range (sizes and seeds out of
range, levels that are not finite numbers >= 0, unknown names for choices, text for numbers). Each must end with a
non-zero exit, no traceback, a message naming the option (or the configuration parameter it sets), and nothing
written. Choices are typer's: an unknown name is refused by the parser, which names the option and the choices.
Parsing and validation only: no simulation starts, so the test runs in seconds.
"""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sdce.cli import app

runner = CliRunner()
words = st.text(string.ascii_lowercase + "-_", min_size=1, max_size=12)
numbers_as_text = st.text(string.ascii_letters + "!@#", min_size=1, max_size=8)
not_finite = st.sampled_from(["inf", "-inf", "nan"])
negative = st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False).map(repr)


def below(bound):
    return st.integers(max_value=bound - 1).map(str)


def unknown(valid):
    return words.filter(lambda w: w not in valid)


POLICIES = {"none", "subsidy", "disclosure", "royalty-cap", "transfer", "watermark"}
REGIMES = {"unregulated", "statutory", "shapley", "pmir", "intermediary"}
# command, option, bad values, names the message may use, other arguments the command needs
CASES = [
    (["run"], "--producers", below(2) | numbers_as_text, ("--producers", "n_producers"), []),
    (["run"], "--trainers", below(1) | numbers_as_text, ("--trainers", "n_trainers"), []),
    (["run"], "--generations", below(1) | numbers_as_text, ("--generations", "generations"), []),
    (["run"], "--seed", below(0) | numbers_as_text, ("--seed",), []),
    (["run"], "--regime", unknown(REGIMES), ("regime",), []),
    (["run"], "--policy", unknown(POLICIES), ("policy",), []),
    (["run"], "--subsidy", not_finite | negative | numbers_as_text, ("subsidy",), ["--policy", "subsidy"]),
    (["run"], "--watermark", not_finite | negative | numbers_as_text, ("watermark",), ["--policy", "watermark"]),
    (["run"], "--transfer", not_finite | negative | numbers_as_text, ("transfer",), ["--policy", "transfer"]),
    (["run"], "--royalty-cap", negative | numbers_as_text, ("royalty", "royalty_cap"), ["--policy", "royalty-cap"]),
    (["regimes"], "--seed", below(0) | numbers_as_text, ("--seed",), []),
    (["collapse"], "--samples", below(2) | numbers_as_text, ("--samples", "samples"), []),
    (["collapse"], "--generations", below(1) | numbers_as_text, ("--generations", "generations"), []),
    (["collapse"], "--reps", below(1) | numbers_as_text, ("--reps", "reps"), []),
    (["collapse"], "--rho", st.floats(min_value=1.0001, max_value=1e6).map(repr) | negative, ("rho",), []),
    (["collapse"], "--tau", st.floats(min_value=1.0001, max_value=1e6).map(repr) | negative, ("tau",), []),
    (["collapse"], "--family", unknown({"gaussian", "gmm"}), ("family",), []),
    (["collapse"], "--rule", unknown({"mle", "wgf"}), ("rule",), []),
    (["collapse"], "--data-mode", unknown({"replace", "accumulate"}), ("data_mode",), []),
    (["meanfield"], "--generations", below(1) | numbers_as_text, ("--generations", "generations"), []),
    (["meanfield"], "--grid", unknown({"gaussian", "1d", "2d"}), ("grid",), []),
    (["meanfield"], "--regime", unknown(REGIMES), ("regime",), []),
    (["equilibrium"], "--starts", below(1) | numbers_as_text, ("--starts", "starts"), []),
    (["equilibrium"], "--seed", below(0) | numbers_as_text, ("--seed",), []),
    (["compare"], "--producers", st.sampled_from(["64,64", "1,64", "64", "a,b", ","]), ("producers",), []),
    (["compare"], "--seeds", below(2) | numbers_as_text, ("seeds", "--seeds"), []),
    (["compare"], "--rules", unknown({"mle", "wgf", "mle,wgf", "wgf,mle"}), ("rule",), []),
    (["retrain"], "--domain", unknown({"text", "images", "recsys"}), ("domain",), []),
    (["retrain"], "--size", unknown({"tiny", "small", "paper"}), ("size",), []),
    (["retrain"], "--generations", below(0) | numbers_as_text, ("generations", "--generations"), []),
    (["retrain"], "--rho", st.sampled_from(["1.5", "-0.1", "a", "0.1,0.1"]), ("rho",), []),
    (["retrain"], "--tau", st.floats(min_value=1.0001, max_value=1e6).map(repr) | negative, ("tau",), []),
    (["theorem5"], "--reps", below(2) | numbers_as_text, ("reps", "--reps"), []),
    (["theorem5"], "--horizons", st.sampled_from(["0", "2,2", "a", "-1,2"]), ("horizons",), []),
    (["theorem5"], "--policy", unknown({"none", "disclosure", "watermark"}), ("policy",), []),
    (["theorem4"], "--grid", below(2) | numbers_as_text, ("--grid",), []),
    (["policy", "sweep"], "--levels", st.sampled_from(["0,inf", "nan", "0,0", "-1", "x"]), ("--levels",),
     ["--policy", "subsidy"]),
    (["policy", "sweep"], "--seeds", below(1), ("--seeds",), ["--policy", "subsidy", "--levels", "0"]),
    (["reproduce", "all"], "--workers", below(1) | numbers_as_text, ("--workers",), ["--quick"]),
    (["reproduce", "all"], "--subsidy", not_finite | negative | numbers_as_text, ("--subsidy",), ["--quick"]),
]
TRIED = []


@st.composite
def bad_invocation(draw):
    command, option, values, names, extra = draw(st.sampled_from(CASES))
    return command, option, draw(values), names, extra


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=bad_invocation())
def test_every_option_refuses_bad_values_before_work(case, tmp_path_factory):
    command, option, value, names, extra = case
    out = tmp_path_factory.mktemp("out") / "folder"
    result = runner.invoke(app, [*command, *extra, f"{option}={value}", "--out", str(out)]
                           if command[0] != "collapse" else [*command, *extra, f"{option}={value}"])
    TRIED.append((command[0], option))
    assert result.exit_code != 0, (command, option, value, result.output)
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError,
                                                                                   ValueError, RuntimeError))
    text = result.output.replace("\n", " ")
    assert any(name in text for name in (*names, option)), (command, option, value, result.output)
    assert not out.exists()


def test_the_property_covered_every_case():
    """Run after the property (file order): it drew every command-option pair at least once."""
    assert {(c[0][0], c[1]) for c in CASES} <= set(TRIED), sorted({(c[0][0], c[1]) for c in CASES} - set(TRIED))
