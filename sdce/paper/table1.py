"""Table I of the paper ("Calibration of the Baseline Data Market"), typed in as data with its source.

Source: Lundström-Imanov (2026), *The Economics of Model Collapse*, arXiv:2605.20279v1, Section V, Table I.
These are model *inputs*; the simulator's defaults (`sdce.config.SDCEConfig`) are read from here.
"""

from __future__ import annotations

from types import MappingProxyType

TABLE_I = MappingProxyType(
    {
        "n_producers": 1024,  # N, number of producers
        "n_trainers": 16,  # M, number of trainers
        "generations": 10,  # T, horizon
        "discount": 0.99,  # gamma, discount factor of eq. (3)
        "learning_rate": 3e-4,  # eta, Algorithm 1 lines 14-18
        "shaping_beta": 0.10,  # beta, W2 shaping of Algorithm 1 line 10
        "collapse_weight": 0.85,  # kappa, eq. (6), (10), (12)
        "lemon_penalty": 0.30,  # lambda, eq. (7)
        "gamma0": 0.18,  # gamma(0), human elasticity at rho = 0
        "delta0": 0.12,  # delta(0), synthetic elasticity at rho = 0
    }
)
