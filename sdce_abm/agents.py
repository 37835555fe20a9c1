"""Producers (docs/model.md §3) and trainers (docs/model.md §4) as Mesa agents.

Producers are many, so their state lives in the model's columnar `ProducerState` and each `Producer` is a view on
its row; their decision rule runs once for the whole population as an array operation. Trainers are few and each
holds its own generative model, sample pool and outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from sdce.dataworld.learning import update_model
from sdce.dataworld.mixture import Mixture
from sdce.economics.producers import partial_adjustment, provenance_best_response


@dataclass
class ProducerState:
    """Columns of the producer population (N,)."""

    phi_bar: np.ndarray  # ability: the largest human share the producer can make
    nu: np.ndarray  # intrinsic motivation
    capacity: np.ndarray  # h̄
    phi: np.ndarray  # provenance this generation
    received: np.ndarray  # payments received this generation
    marginal_revenue: np.ndarray  # expected marginal revenue per unit of human share (from last generation)


class Producer(mesa.Agent):
    """A data producer: a row of the model's `ProducerState`."""

    def __init__(self, model: mesa.Model, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def phi(self) -> float:
        return float(self.model.producer_state.phi[self.index])

    @property
    def phi_bar(self) -> float:
        return float(self.model.producer_state.phi_bar[self.index])

    @property
    def received(self) -> float:
        return float(self.model.producer_state.received[self.index])

    @staticmethod
    def choose_provenance(state: ProducerState, cost_human: float, cost_quadratic: float, rate: float) -> None:
        """Every producer's adaptive best response with partial adjustment (docs/model.md §3), in place."""
        target = provenance_best_response(state.marginal_revenue, state.nu, state.phi_bar, cost_human,
                                          cost_quadratic)
        state.phi = partial_adjustment(state.phi, target, rate)


class Trainer(mesa.Agent):
    """A model trainer with fixed labor, compute and revenue weight, and its own generative model q_j."""

    def __init__(self, model: mesa.Model, labor: float, compute: float, revenue_weight: float) -> None:
        super().__init__(model)
        self.labor = labor
        self.compute = compute
        self.revenue_weight = revenue_weight
        self.generative_model: Mixture | None = None
        self.pool_human: list[np.ndarray] = []
        self.pool_synthetic: list[np.ndarray] = []
        self.fidelity = 0.0  # D_j = KL(q_j‖p)
        self.quality = 0.0  # Q_j

    def retrain(self, human: np.ndarray, synthetic: np.ndarray) -> None:
        """Update q_j from this generation's samples (or all so far under `accumulate`) by the learning rule."""
        cfg = self.model.config
        if cfg.data_mode == "accumulate":
            self.pool_human.append(human)
            self.pool_synthetic.append(synthetic)
            human, synthetic = np.concatenate(self.pool_human), np.concatenate(self.pool_synthetic)
        self.generative_model = update_model(
            self.generative_model, human, synthetic, family=cfg.family, components=cfg.components,
            em_iterations=cfg.em_iterations, rule=cfg.learning_rule, train_time=cfg.train_time, rng=self.model.rng,
        )
