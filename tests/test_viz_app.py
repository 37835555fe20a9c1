"""The interactive page without a browser: its controls against the validated config, and the page rendered with
Solara's test helpers (`solara.render`, `rc.find`), stepped and reset through its own buttons."""

from __future__ import annotations

import re
import threading
import time

import ipyvuetify as v
import ipywidgets as widgets
import pytest
import solara

import sdce_abm.app as app
from sdce.config import make_config
from sdce.errors import ConfigError
from sdce_abm.app import DEFAULTS, MODEL_PARAMS, SLIDERS, InteractiveMarket, Page, market_config
from sdce_abm.model import SDCEModel

BUILD_TIMEOUT = 120  # s: the page builds its market in a background task


def test_controls_build_the_validated_config():
    cfg, seed = market_config(**{**DEFAULTS, "regime": "statutory", "policy": "subsidy", "policy_level": "0.02",
                                 "n_producers": 256, "temperature": 0.5})
    assert (cfg.regime, cfg.policy, cfg.subsidy, cfg.n_producers, cfg.temperature) == (
        "statutory", "subsidy", 0.02, 256, 0.5)
    assert seed == int(DEFAULTS["seed"])
    assert market_config(**{**DEFAULTS, "policy": "royalty-cap", "policy_level": "0.004"})[0].royalty_cap == 0.004


@pytest.mark.parametrize("control, text, message", [
    ("n_producers", "64", "n_producers: Input should be a valid integer (got '64')"),
    ("n_producers", 1, "n_producers: Input should be greater than or equal to 2 (got 1)"),
    ("temperature", 1.5, "temperature: Input should be less than or equal to 1 (got 1.5)"),
    ("generations", 2.5, "generations: Input should be a valid integer (got 2.5)"),
    ("seed", "-1", "seed: must be an integer >= 0 (got -1)"),
    ("policy_level", "0.3", "policy level: policy 'none' takes no level (got 0.3)"),
    ("policy_level", "", "policy level: '' is not a number"),
])
def test_a_rejected_control_is_named_with_its_range(control, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        market_config(**{**DEFAULTS, control: text})


def test_a_rejected_market_reports_every_bad_control_and_does_not_run():
    market = InteractiveMarket(n_producers=0, temperature="hot", learning_rule="wgf")
    assert market.market is None and not market.running and not market.pending
    assert "n_producers: Input should be greater than or equal to 2" in market.error
    assert "temperature: Input should be a valid number (got 'hot')" in market.error
    market.step()
    assert market.market is None and market.error is not None


def test_sliders_span_what_the_configuration_accepts():
    """Each slider's ends are accepted by the configuration and one step beyond is refused, except above a slider
    whose field has no upper bound (capped by `SLIDERS` to keep the page responsive)."""
    assert {name for name, spec in MODEL_PARAMS.items() if spec["type"].startswith("Slider")} == set(SLIDERS)
    for name, (_, step, cap) in SLIDERS.items():
        spec = MODEL_PARAMS[name]
        assert spec["type"] == ("SliderInt" if isinstance(make_config().model_dump()[name], int) else "SliderFloat")
        assert spec["min"] <= spec["value"] <= spec["max"] and spec["step"] == step
        make_config({name: spec["min"]})
        make_config({name: spec["max"]})
        with pytest.raises(ConfigError, match=name):
            make_config({name: spec["min"] - step})
        if cap is None:
            with pytest.raises(ConfigError, match=name):
                make_config({name: spec["max"] + step})
        else:
            assert spec["max"] == cap
            make_config({name: cap + step})


def test_a_market_not_built_yet_is_built_by_its_first_step():
    market = InteractiveMarket(n_producers=32, n_trainers=2, generations=2)
    assert market.pending and market.market is None
    market.step()
    assert not market.pending and market.market.steps == 1 and market.steps == 1


def _render():
    rc = solara.render(solara.AppLayout(children=[Page()]), handle_error=False)[1]
    rc.find(v.Html, class_="sdce-status").wait_for(timeout=BUILD_TIMEOUT)
    return rc


def _readout_rho(rc) -> float:
    html = rc.find(meta_ref="readout").widget.unsafe_innerHTML  # the readout table, as the browser receives it
    return float(re.search(r"ρ</td><td[^>]*>([0-9.]+)</td>", html).group(1))


def test_the_page_steps_the_market_and_redraws_every_plot():
    rc = _render()

    def status():
        return rc.find(v.Html, class_="sdce-status").widget.children[0]

    def figures():
        return [image.value for image in rc.find(widgets.Image).widgets]

    before = figures()
    assert "Generation 0 of 10" in status() and len(before) == 5
    assert [tab.children for tab in rc.find(v.Tab).widgets] == [["Market"]]  # not Mesa's "Page 0"
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert "Generation 1 of 10" in status()
    rc.find(v.Html, children=["Step: 1"]).assert_single()
    assert all(a != b for a, b in zip(before, figures()))
    reference = SDCEModel(market_config(**DEFAULTS)[0], seed=int(DEFAULTS["seed"]))
    reference.step()  # the same seed gives the same market: the page shows the model's own numbers
    assert _readout_rho(rc) == pytest.approx(reference.rho, abs=5e-5)


def test_a_bad_value_typed_into_the_page_shows_a_message_on_reset():
    rc = _render()
    seed = rc.find(v.TextField, label="seed").widget
    seed.v_model = "-5"
    seed.fire_event("keyup.enter", None)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    message = rc.find(v.Alert).wait_for(timeout=BUILD_TIMEOUT).widget
    assert "seed: must be an integer >= 0 (got -5)" in str(message.children)
    seed.v_model = "5"
    seed.fire_event("keyup.enter", None)
    producers = rc.find(v.Slider, label="N, producers").widget
    assert (producers.min, producers.max, producers.step) == (2, SLIDERS["n_producers"][2], 1)
    producers.v_model = 64
    rc.find(v.Btn, children=["Reset"]).widget.click()
    status = rc.find(v.Html, class_="sdce-status").wait_for(timeout=BUILD_TIMEOUT).widget
    rc.find(v.Alert).assert_empty()
    assert "N=64" in status.children[0] and "seed 5." in status.children[0]


def test_reset_returns_at_once_and_a_spinner_shows_while_the_market_is_built(monkeypatch):
    """Mesa's Reset builds the model in its click handler: the page's model only checks the controls there, and
    builds the market in a background task while a spinner says what is being built."""
    gate = threading.Event()

    def gated(*args, **kwargs):
        assert gate.wait(BUILD_TIMEOUT)
        return SDCEModel(*args, **kwargs)

    monkeypatch.setattr(app, "SDCEModel", gated)
    rc = solara.render(solara.AppLayout(children=[Page()]), handle_error=False)[1]
    building = rc.find(v.Html, class_="sdce-building").widget.children[0]
    assert "regime unregulated, N=1024, M=16, seed 17" in building and "compiles JAX" in building
    rc.find(v.Html, class_="sdce-status").assert_empty()
    gate.set()
    rc.find(v.Html, class_="sdce-status").wait_for(timeout=BUILD_TIMEOUT)
    rc.find(v.Html, class_="sdce-building").assert_empty()
    gate.clear()
    rc.find(v.Slider, label="M, trainers").widget.v_model = 4
    started = time.monotonic()
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert time.monotonic() - started < 5  # the handler did not wait for the build (held until the gate opens)
    assert "M=4" in rc.find(v.Html, class_="sdce-building").wait_for(timeout=5).widget.children[0]
    rc.find(v.Html, class_="sdce-status").assert_empty()
    gate.set()
    status = rc.find(v.Html, class_="sdce-status").wait_for(timeout=BUILD_TIMEOUT).widget
    assert "M=4" in status.children[0] and "Generation 0 of 10" in status.children[0]


def test_figures_draw_the_models_own_paths_and_leave_its_stream_alone():
    from meanfield.solve import solve_meanfield
    from sdce_abm.live_figures import contamination_quality_figure, public_model_figure

    cfg = market_config(**{**DEFAULTS, "n_producers": 128, "n_trainers": 4, "generations": 3})[0]
    market = SDCEModel(cfg, seed=5)
    market.step()
    market.step()
    limit = solve_meanfield(cfg)
    lines = {line.get_label(): line for line in contamination_quality_figure(market, limit).axes[0].get_lines()}
    assert list(lines["ABM"].get_ydata()) == market.datacollector.get_model_vars_dataframe()["rho"].tolist()
    assert lines["mean-field"].get_linestyle() == "--"
    assert list(lines["mean-field"].get_ydata()) == list(limit["rho"][:3])  # up to the ABM's generation
    state = market.rng.bit_generator.state
    public_model_figure(market)
    assert market.rng.bit_generator.state == state
