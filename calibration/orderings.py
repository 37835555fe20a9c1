"""The paper's orderings in the continuum at given parameters (docs/model.md §12, "Posterior"): Table III's regimes
and Table V's policies on pmir as jitted functions of the calibrated parameters, the orderings they satisfy, and
moments no fit can use (PMIR's) at the same runs. Used by the posterior predictive (`calibration.bayes`) and by the
report's calibration section (`calibration.fit_report`)."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from calibration.moment_map import check_diagnostics, run_series
from calibration.runs import CAP_FRACTION, TRANSFER_FRACTION
from calibration.tables import TABLE3_CHAIN, TABLE5_CHAIN, chain_holds, table5_subsidy
from calibration.targets import Target, evaluate_moment, moment_run, needed_baseline, parse_moment, run_config
from meanfield.market import TYPE_NODES, economy, gaussian_p
from sdce.config import SDCEConfig

TABLE3_REGIMES = tuple(r for group in TABLE3_CHAIN for r in group)
TABLE5_POLICIES = tuple(p for group in TABLE5_CHAIN for p in group)
ORDERINGS = {
    "Table III: Q (rel.) pmir > shapley > statutory > unregulated": ("table3", "Q_rel"),
    "Table III: ΔW pmir > shapley > statutory > unregulated": ("table3", "dW"),
    "Table V: ΔW subsidy > disclosure > {none, royalty-cap, transfer} (pmir)": ("table5", "dW"),
}


class ForwardRuns:
    """Table III's regimes and Table V's policies (on pmir) in the continuum as jitted functions of the parameters:
    the generation-T outcomes of every run at a posterior draw, the orderings they satisfy and the held-out (PMIR)
    moments. The policy levels are one regulator's, set once at the posterior mean `reference`: the subsidy
    `subsidy` (s* of eq. 10 at the reference when None), the royalty cap CAP_FRACTION × the reference pmir run's
    mean price per unit and the transfer TRANSFER_FRACTION × its mean payment per producer (as Table V's levels are
    set from one reference run, `calibration.runs`)."""

    def __init__(self, cfg: SDCEConfig, names: Sequence[str], reference: np.ndarray, subsidy: float | None,
                 held: Sequence[Target], type_nodes: int = TYPE_NODES):
        self.names, self.held = tuple(names), [parse_moment(t.moment) for t in held]
        self._cfg, self._nodes = cfg, type_nodes
        base = self._run(cfg.replace(regime="pmir", policy="none"))(reference)
        level = float(subsidy) if subsidy is not None else self._optimal_subsidy(reference)
        self.levels = {"subsidy": level, "royalty-cap": CAP_FRACTION * float(base["price"][-1]),
                       "transfer": TRANSFER_FRACTION * float(base["payment"][-1])}
        runs = {(r, "none"): cfg.replace(regime=r, policy="none") for r in TABLE3_REGIMES}
        runs |= {("pmir", p): cfg.replace(regime="pmir", policy=p, **_policy_field(p, self.levels))
                 for p in TABLE5_POLICIES if p != "none"}
        extra = {moment_run(m) for m in self.held} | needed_baseline(self.held)
        runs |= {("held", *run): run_config(cfg, run, None) for run in extra}
        self._runs = {key: self._run(c) for key, c in runs.items()}

    def _optimal_subsidy(self, reference: np.ndarray) -> float:
        return table5_subsidy(self._cfg.replace(**dict(zip(self.names, map(float, reference)))), "optimal")

    def _run(self, cfg: SDCEConfig) -> Callable:
        econ = economy(cfg, gaussian_p(cfg), self._nodes)
        names = self.names

        def run(theta):
            series, diagnostics = run_series(econ, cfg, dict(zip(names, jnp.asarray(theta, jnp.float32))))
            return {**series, **diagnostics}

        return jax.jit(run)

    def at(self, theta: np.ndarray) -> tuple[dict[str, bool], np.ndarray, dict]:
        """The orderings (claim -> holds), the held-out moments and the values ordered (claim -> name -> value) at
        one draw; raises if a solve failed there."""
        out = {}
        for key, run in self._runs.items():
            result = run(theta)
            check_diagnostics(result, dict(zip(self.names, map(float, theta))))
            out[key] = {k: np.asarray(v, float) for k, v in result.items()}
        regime = {r: out[(r, "none")] for r in TABLE3_REGIMES}
        policy = {p: out[("pmir", p)] if p != "none" else regime["pmir"] for p in TABLE5_POLICIES}
        values = {"table3": {"Q_rel": {r: v["quality"][-1] / regime["unregulated"]["quality"][-1]
                                       for r, v in regime.items()},
                             "dW": {r: v["W"][-1] - regime["unregulated"]["W"][-1] for r, v in regime.items()}},
                  "table5": {"dW": {p: v["W"][-1] - regime["pmir"]["W"][-1] for p, v in policy.items()}}}
        chains = {"table3": TABLE3_CHAIN, "table5": TABLE5_CHAIN}
        holds = {claim: chain_holds(values[table][column], chains[table])
                 for claim, (table, column) in ORDERINGS.items()}
        held = np.array([evaluate_moment(m, lambda run, key, t=-1: out[("held", *run)][key][t]) for m in self.held])
        return holds, held, {claim: values[table][column] for claim, (table, column) in ORDERINGS.items()}


def _policy_field(policy: str, levels: dict) -> dict:
    field = {"subsidy": "subsidy", "royalty-cap": "royalty_cap", "transfer": "transfer"}.get(policy)
    return {field: levels[policy]} if field else {}


def ordering_probabilities(forward: ForwardRuns, draws: np.ndarray,
                           on_draw: Callable[[], None] | None = None) -> tuple[dict[str, float], np.ndarray]:
    """The posterior probability of each of the paper's orderings (the share of `draws` at which it holds) and the
    held-out moments at every draw (draws, n_held)."""
    holds, held = [], []
    for theta in draws:
        h, m, _ = forward.at(theta)
        holds.append(h)
        held.append(m)
        if on_draw is not None:
            on_draw()
    probabilities = {claim: float(np.mean([h[claim] for h in holds])) for claim in ORDERINGS}
    return probabilities, np.array(held).reshape(len(draws), len(forward.held))


