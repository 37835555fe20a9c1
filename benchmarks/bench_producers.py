"""Producers' provenance step: the columnar update the model uses against Mesa's `AgentSet.do` over agents.

    python benchmarks/bench_producers.py [--repeats 5]

Both apply the same rule (`provenance_best_response`, then `partial_adjustment`, docs/model.md §3) to the same
model state, and the agent-by-agent result is checked equal to the columnar one. Prints the best time of each and
their ratio, at N = 1024 (Table I) and N = 16384, in the same process (docs/architecture.md, "Producers").
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sdce.economics.producers import partial_adjustment, provenance_best_response
from sdce_abm.agents import Producer
from sdce_abm.model import SDCEModel


def agent_step(agent: Producer, cost_human: float, cost_quadratic: float, rate: float) -> None:
    """One producer's update on its own row, as an `AgentSet.do` callable."""
    state, i = agent.model.producer_state, agent.index
    target = provenance_best_response(state.marginal_revenue[i], state.nu[i], state.phi_bar[i], cost_human,
                                      cost_quadratic)
    state.phi[i] = partial_adjustment(state.phi[i], target, rate)


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'N':>6} {'columnar s':>11} {'AgentSet.do s':>14} {'ratio':>8}")
    for n in (1024, 16384):
        model = SDCEModel(seed=0, regime="shapley", n_producers=n, generations=1)
        cfg, state = model.config, model.producer_state
        args_ = (cfg.cost_human, cfg.cost_quadratic, cfg.adjust_rate)
        start = state.phi.copy()
        producers = model.agents_by_type[Producer]

        def columnar():
            state.phi = start.copy()
            Producer.choose_provenance(state, *args_)

        def per_agent():
            state.phi = start.copy()
            producers.do(agent_step, *args_)

        columnar()
        reference = state.phi.copy()
        per_agent()
        np.testing.assert_allclose(state.phi, reference, rtol=1e-12, atol=0)
        t_col, t_agent = best(columnar, args.repeats), best(per_agent, args.repeats)
        print(f"{n:>6} {t_col:>11.2e} {t_agent:>14.2e} {t_agent / t_col:>8.0f}")


if __name__ == "__main__":
    main()
