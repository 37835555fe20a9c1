"""The interactive market: Mesa's SolaraViz page for the ABM. Serve it with `sdce viz` (or `solara run
sdce_abm.app`).

The controls are Mesa user parameters: selects for the regime, the policy and the learning rule; sliders for N, M, τ
and T over the ranges `sdce.config` allows (`slider`); text inputs for the policy level and the seed, whose ranges
depend on the policy or have no end, so that what a person types reaches the validated configuration as typed.
Reset checks the controls at once (a value the configuration rejects is shown on the page instead of a market) and
builds the market in a background task, with a spinner: the first market of a regime and size compiles JAX code
(about 8 s for pmir on 2 cores). Step and Play advance one generation at a time. The tiles sit on one named page
(`PAGES`; Mesa 3.3 would label its pages "Page 0", ...). A checkbox overlays the mean-field limit (docs/model.md §9),
dashed.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import annotated_types
import mesa
import solara
from mesa.visualization import SolaraViz
from mesa.visualization.solara_viz import make_initial_grid_layout
from mesa.visualization.utils import update_counter

from sdce.config import REGIMES, SDCEConfig, make_config
from sdce.economics.policy import LEVEL_FIELDS, POLICIES
from sdce.errors import ConfigError, NotConverged
from sdce_abm.live_figures import (
    contamination_quality_figure,
    price_drift_figure,
    provenance_figure,
    public_model_figure,
    welfare_figure,
)
from sdce_abm.model import SDCEModel

FIELDS = SDCEConfig.model_fields
# the sliders: label, step, and the largest value where the field has no upper bound (16 x Table I's N and M; a
# generation then takes under a second on 2 cores, pmir included; T up to 200)
SLIDERS = {"n_producers": ("N, producers", 1, 16384), "n_trainers": ("M, trainers", 1, 64),
           "temperature": ("τ, sampling temperature", 0.01, None), "generations": ("T, generations", 1, 200)}
DEFAULT_SEED = 17


def slider(name: str, label: str, step: int | float, cap: int | float | None) -> dict:
    """Mesa's SliderInt / SliderFloat for a config field, its range from the field's constraints: >= and <= bounds as
    they are, a strict bound moved in by one step, and `cap` above where the field has none."""
    low, high = None, cap
    for bound in FIELDS[name].metadata:
        if isinstance(bound, annotated_types.Ge):
            low = bound.ge
        elif isinstance(bound, annotated_types.Gt):
            low = bound.gt + step
        elif isinstance(bound, annotated_types.Le):
            high = bound.le
        elif isinstance(bound, annotated_types.Lt):
            high = bound.lt - step
    kind = "SliderInt" if FIELDS[name].annotation is int else "SliderFloat"
    return {"type": kind, "value": FIELDS[name].default, "min": low, "max": high, "step": step, "label": label}


MODEL_PARAMS = {
    "regime": {"type": "Select", "value": FIELDS["regime"].default, "values": list(REGIMES), "label": "regime"},
    "policy": {"type": "Select", "value": FIELDS["policy"].default, "values": list(POLICIES), "label": "policy"},
    "policy_level": {"type": "InputText", "value": "0", "label": "policy level (s, w, p̄ or lump sum)"},
    **{name: slider(name, *spec) for name, spec in SLIDERS.items()},
    "learning_rule": {"type": "Select", "value": FIELDS["learning_rule"].default, "values": ["mle", "wgf"],
                      "label": "learning rule"},
    "seed": {"type": "InputText", "value": str(DEFAULT_SEED), "label": "seed"},
}
DEFAULTS = {name: spec["value"] for name, spec in MODEL_PARAMS.items()}
FAILURES = (ConfigError, NotConverged)  # shown on the page, never raised into it


def _parse(name: str, text: str, kind: type) -> int | float:
    try:
        return kind(str(text).strip())
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name}: {str(text)!r} is not {noun}") from None


def market_config(*, regime: str, policy: str, policy_level: str, n_producers: int, n_trainers: int,
                  temperature: float, generations: int, learning_rule: str, seed: str) -> tuple[SDCEConfig, int]:
    """The validated configuration and seed the page's controls describe (the sliders' numbers as they are, the text
    fields parsed). Raises ConfigError naming every control it rejects: text that is not a number, and every value
    the configuration rejects."""
    values: dict = {"regime": regime, "policy": policy, "learning_rule": learning_rule, "n_producers": n_producers,
                    "n_trainers": n_trainers, "temperature": temperature, "generations": generations}
    problems = []
    try:
        level = _parse("policy level", policy_level, float)
        if policy in LEVEL_FIELDS:
            values[LEVEL_FIELDS[policy]] = level
        elif level != 0:
            problems.append(f"policy level: policy {policy!r} takes no level (got {level:g}); set it to 0 or "
                            f"choose one of {'|'.join(LEVEL_FIELDS)}")
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        market_seed = _parse("seed", seed, int)
        if market_seed < 0:
            problems.append(f"seed: must be an integer >= 0 (got {market_seed})")
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        config = make_config(values)  # a level that did not parse is left at its default here
    except ConfigError as exc:
        problems += [line.strip() for line in str(exc).splitlines()[1:]]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config, market_seed


class InteractiveMarket(mesa.Model):
    """The market the page shows: an `SDCEModel` built from the controls, or why not.

    Mesa's Reset calls this constructor in its click handler, so it only checks the controls; `build` makes the
    market (the page runs it in a background task behind a spinner; `step` builds first when it has not run). A value
    the configuration rejects, or a numerical failure while building or stepping, sets `error` and stops the run
    instead of raising into the server.
    """

    def __init__(self, *, regime: str = DEFAULTS["regime"], policy: str = DEFAULTS["policy"],
                 policy_level: str = DEFAULTS["policy_level"], n_producers: int = DEFAULTS["n_producers"],
                 n_trainers: int = DEFAULTS["n_trainers"], temperature: float = DEFAULTS["temperature"],
                 generations: int = DEFAULTS["generations"], learning_rule: str = DEFAULTS["learning_rule"],
                 seed: str = DEFAULTS["seed"]) -> None:
        super().__init__()
        self.market: SDCEModel | None = None
        self.error: str | None = None
        self.config: SDCEConfig | None = None
        self._building = threading.Lock()
        try:
            self.config, self.market_seed = market_config(
                regime=regime, policy=policy, policy_level=policy_level, n_producers=n_producers,
                n_trainers=n_trainers, temperature=temperature, generations=generations,
                learning_rule=learning_rule, seed=seed)
        except ConfigError as exc:
            self._stop(exc)

    @property
    def pending(self) -> bool:
        """The controls were accepted and the market is not built yet."""
        return self.market is None and self.error is None

    def build(self) -> None:
        """Build the market the controls describe, once (a second call, or one while building, waits and returns)."""
        with self._building:
            if self.pending:
                try:
                    self.market = SDCEModel(self.config, seed=self.market_seed)
                except FAILURES as exc:
                    self._stop(exc)

    def _stop(self, exc: Exception) -> None:
        self.error = str(exc)
        self.running = False

    def step(self) -> None:
        """One generation of the market (built first, if the page's task has not built it yet)."""
        self.build()
        if self.market is None:
            self.running = False
            return
        try:
            self.market.step()
        except FAILURES as exc:
            self._stop(exc)
            return
        self.running = self.market.running


@lru_cache(maxsize=32)
def meanfield_path(config: SDCEConfig) -> dict:
    """The mean-field trajectory of `config` (generations 0..T): the dashed overlay."""
    from meanfield.solve import solve_meanfield

    result = solve_meanfield(config)
    return {key: result[key] for key in ("rho", "quality", "price", "w2", "kl", "W", "W_realized")}


def status_line(market: SDCEModel) -> str:
    """The market's configuration and its generation, as one line of text."""
    cfg = market.config
    level = f" {getattr(cfg, LEVEL_FIELDS[cfg.policy]):g}" if cfg.policy in LEVEL_FIELDS else ""
    return (f"regime {cfg.regime}, policy {cfg.policy}{level}; N={cfg.n_producers}, M={cfg.n_trainers}, "
            f"τ={cfg.temperature:g}, rule {cfg.learning_rule}, seed {market.seed}. "
            f"Generation {market.steps} of {cfg.generations}.")


READOUT = (("ρ", "rho", "rho"), ("mean Q", "mean_quality", "quality"), ("mean price", "mean_price", "price"),
           ("W2 (probe)", "w2_public", "w2"), ("KL", "kl_public", "kl"))


def readout(market: SDCEModel, limit: dict | None) -> str:
    """This generation's values as an HTML table, beside the mean-field limit's when it is overlaid. (Plain HTML:
    Solara's Markdown would fetch KaTeX from a CDN.)"""
    t = market.steps
    rows = [(label, getattr(market, name), None if limit is None else limit[key][t]) for label, name, key in READOUT]
    rows += [(label, market.welfare[key], None if limit is None else limit[key][t])
             for label, key in (("W", "W"), ("W realised", "W_realized"))]
    cell = "<td style='padding: 1px 12px'>{}</td>"
    head = "<th></th><th>ABM</th>" + ("<th style='padding: 1px 12px'>mean-field</th>" if limit is not None else "")
    body = "".join("<tr>" + cell.format(label) + cell.format(f"{abm:.4f}")
                   + ("" if limit is None else cell.format(f"{mf:.4f}")) + "</tr>"
                   for label, abm, mf in rows)
    return (f"<table style='font-size: 90%; text-align: right'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


overlay_meanfield = solara.reactive(False)


@solara.lab.task
def meanfield_overlay(config: SDCEConfig) -> tuple[SDCEConfig, dict]:
    """The overlay's trajectory, solved in the background (once per browser session and configuration)."""
    return config, meanfield_path(config)


def _limit(model: InteractiveMarket) -> dict | None:
    """The mean-field trajectory of the market shown, when the toggle is on and it has been solved."""
    if model.market is None or not overlay_meanfield.value or not meanfield_overlay.finished:
        return None
    config, path = meanfield_overlay.value
    return path if config == model.market.config else None


@solara.component
def MarketStatus(model: InteractiveMarket):
    """The configuration in force and the current values, the rejection message, and the mean-field toggle."""
    update_counter.get()
    config = model.market.config if model.market is not None else None

    def solve_overlay():
        if overlay_meanfield.value and config is not None:
            meanfield_overlay(config)

    solara.use_effect(solve_overlay, [overlay_meanfield.value, config])
    with solara.Column(style={"padding": "12px"}):
        if model.error is not None:
            solara.Error(f"The market was not built. {model.error}", classes=["sdce-error"])
            solara.Text("Correct the control, then press Reset.")
            return
        solara.Text(status_line(model.market), classes=["sdce-status"])
        solara.HTML(tag="div", unsafe_innerHTML=readout(model.market, _limit(model))).meta(ref="readout")
        solara.Checkbox(label="overlay the mean-field limit (dashed)", value=overlay_meanfield)
        if overlay_meanfield.value and meanfield_overlay.pending:
            solara.Info("solving the mean-field limit ...")
        if overlay_meanfield.value and meanfield_overlay.error:
            solara.Warning(f"no mean-field overlay: {meanfield_overlay.exception}")


def _tile(model: InteractiveMarket, draw) -> None:
    """A figure of the market at its current generation, redrawn on every step (Mesa's update counter)."""
    update_counter.get()
    if model.market is None:
        solara.Text("no market: see the message in the first tile")
        return
    solara.FigureMatplotlib(draw(model.market), format="png", dpi=96)


@solara.component
def ContaminationQuality(model: InteractiveMarket):
    """ρ_t and Q_t with the band over trainers (the overlay, when on)."""
    limit = _limit(model)
    _tile(model, lambda market: contamination_quality_figure(market, limit))


@solara.component
def PriceDrift(model: InteractiveMarket):
    """The mean price and the drift W2/KL of q̄_t from p (the overlay, when on)."""
    limit = _limit(model)
    _tile(model, lambda market: price_drift_figure(market, limit))


@solara.component
def ProvenanceHistogram(model: InteractiveMarket):
    """Producers' provenance φ now and at generation 0."""
    _tile(model, provenance_figure)


@solara.component
def PublicModelScatter(model: InteractiveMarket):
    """Samples of q̄_t over the contours of p."""
    _tile(model, public_model_figure)


@solara.component
def WelfareBreakdown(model: InteractiveMarket):
    """The components of W (docs/model.md §8) beside realised welfare."""
    _tile(model, welfare_figure)


PAGES = {"Market": [MarketStatus, ContaminationQuality, PriceDrift, ProvenanceHistogram, PublicModelScatter,
                    WelfareBreakdown]}


def building_message(model: InteractiveMarket) -> str:
    """What the spinner says while `model` is being built."""
    cfg = model.config
    return (f"Building the market: regime {cfg.regime}, N={cfg.n_producers}, M={cfg.n_trainers}, seed "
            f"{model.market_seed}. The first market of a regime and size compiles JAX code (about 8 s for pmir on "
            "2 cores).")


@solara.component
def MarketPages(model: InteractiveMarket):
    """The tiles on named tabs (`PAGES`), each page a draggable grid laid out as Mesa's; while the market is built
    (`InteractiveMarket.build`, a background task), a spinner and what is being built."""
    build = solara.lab.use_task(model.build, dependencies=[model])
    tab, set_tab = solara.use_state(0)
    layouts, set_layouts = solara.use_state({name: make_initial_grid_layout(len(tiles))
                                             for name, tiles in PAGES.items()})
    if build.pending or model.pending:  # the task's state read first, on every render: its end redraws this
        if model.pending:  # (a rejected market's task ends at once; its message is in the first tile)
            with solara.Row(style={"padding": "24px", "align-items": "center"}):
                solara.SpinnerSolara(size="64px")
                solara.Text(building_message(model), classes=["sdce-building"])
        return
    with solara.v.Tabs(v_model=tab, on_v_model=set_tab):
        for name in PAGES:
            solara.v.Tab(children=[name])
    with solara.v.TabsItems(v_model=tab):
        for index, (name, tiles) in enumerate(PAGES.items()):
            with solara.v.TabItem():
                if index == tab:
                    solara.GridDraggable(
                        items=[tile(model) for tile in tiles], grid_layout=layouts[name], resizable=True,
                        draggable=True, on_grid_layout=lambda layout, name=name: set_layouts(
                            lambda old: {**old, name: layout}))


@solara.component
def Page():
    """One market per browser session, built from the default controls: Mesa's SolaraViz holds the controls and
    makes a new `InteractiveMarket` on Reset; `MarketPages` shows it (Mesa's own pages would be named "Page 0")."""
    model = solara.use_reactive(solara.use_memo(InteractiveMarket, []))
    SolaraViz(model, components=[], model_params=MODEL_PARAMS, name="sdce: synthetic-data market")
    MarketPages(model.value)
