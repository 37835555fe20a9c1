"""The paper's published reduced-form numbers, typed in as data with their source.

Source: Lundström-Imanov (2026), *The Economics of Model Collapse*, arXiv:2605.20279v1:
Section VI (eq. (13), eq. (14), Table II), Section VII (Table III), Section VIII (eq. (15), Table IV), Section IX
(Table V) and Section XII (the replication seeds it lists).
These are *targets* to compare against, never inputs to our own estimates (docs/model.md §12: compute everything,
copy nothing). `calibration.ols` re-estimates eq. (13)/(15) from panels, including `table4_panel()`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

import pandas as pd

SOURCE = "Lundström-Imanov (2026), The Economics of Model Collapse, arXiv:2605.20279v1"


class TableIIRow(NamedTuple):
    """One row of Table II: study, dataset (None where the printed row has none), b-hat and its HAC s.e."""

    study: str
    dataset: str | None
    b: float
    se_hac: float

    @property
    def label(self) -> str:
        """The row's first column exactly as printed, e.g. "[1] (wiki text)"."""
        return self.study if self.dataset is None else f"{self.study} ({self.dataset})"


# Section VI, Table II: "Reduced-Form Estimation of the Collapse-Rate Exponent b-hat; benchmark slopes recomputed
# from publicly reported figures in [1, 3, 5, 37]."  Columns: Study / dataset, b-hat, HAC s.e.
TABLE_II = MappingProxyType(
    {
        "c4_synthetic": TableIIRow("This paper", "C4-synthetic", 0.181, 0.024),
        "wiki_text": TableIIRow("[1]", "wiki text", 0.176, 0.031),
        "cifar": TableIIRow("[3]", "CIFAR", 0.189, 0.027),
        "lm_tails": TableIIRow("[5]", "LM tails", 0.184, 0.020),
        "refinedweb": TableIIRow("[37]", "RefinedWeb", 0.179, 0.029),
        "pooled": TableIIRow("Pooled fixed-effects", None, 0.182, 0.012),
    }
)

# Section VIII, Table IV: "Relative Quality Q_t(rho)/Q_0 Across Generations".  One row per generation t; the
# entries of a row are in the order of TABLE_IV_RHOS.
TABLE_IV_GENERATIONS: tuple[int, ...] = (1, 2, 3, 5, 7, 10)
TABLE_IV_RHOS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
TABLE_IV = MappingProxyType(
    {
        1: (0.998, 0.984, 0.957, 0.918, 0.866),
        2: (0.997, 0.968, 0.916, 0.842, 0.748),
        3: (0.995, 0.953, 0.876, 0.772, 0.646),
        5: (0.991, 0.922, 0.802, 0.649, 0.480),
        7: (0.987, 0.892, 0.733, 0.546, 0.357),
        10: (0.982, 0.848, 0.640, 0.420, 0.226),
    }
)


class OutcomeRow(NamedTuple):
    """One row of Table III or V: the row label as printed, Q (rel.), W2, rho and Delta W (Delta welfare)."""

    label: str
    q_rel: float
    w2: float
    rho: float
    dw: float


# Section VII, Table III: "Generation-Ten Outcomes Across Regimes".  Columns: Regime, Q (rel.), W2, rho, Delta W.
TABLE_III = MappingProxyType(
    {
        "unregulated": OutcomeRow("Unregulated (B1)", 1.000, 0.318, 0.78, 0.000),
        "statutory": OutcomeRow("Statutory license (B2)", 1.094, 0.241, 0.62, 0.018),
        "shapley": OutcomeRow("Shapley-only (B3)", 1.187, 0.178, 0.49, 0.029),
        "pmir": OutcomeRow("PMIR", 1.231, 0.142, 0.41, 0.041),
    }
)

# Section IX, Table V: "Effect of Policy Interventions on the SDCE" (on the PMIR equilibrium).  Columns: Policy,
# Q (rel.), W2, rho, Delta welfare.  Keys are our policy names (`sdce.economics.policy.POLICIES`).
TABLE_V = MappingProxyType(
    {
        "none": OutcomeRow("No intervention", 1.231, 0.142, 0.41, 0.000),
        "subsidy": OutcomeRow("Provenance subsidy s*", 1.218, 0.097, 0.22, 0.031),
        "disclosure": OutcomeRow("Mandatory disclosure", 1.224, 0.111, 0.28, 0.024),
        "royalty-cap": OutcomeRow("Statutory royalty cap", 1.207, 0.131, 0.36, 0.012),
        "transfer": OutcomeRow("Producer-side transfer", 1.198, 0.139, 0.39, 0.008),
    }
)

# Section XII: "the 32 replication seeds {17, 31, 42, 53, ..., 9973}" -- only these five are printed (Section VII:
# "32 replications").
LISTED_SEEDS: tuple[int, ...] = (17, 31, 42, 53, 9973)
N_SEEDS = 32

# The paper's stated estimates, in the collapse sign convention (b > 0: quality falls / perplexity rises).
STATED = MappingProxyType(
    {
        # Section VI, eq. (14): OLS of eq. (13) on 50 pooled (t, rho) cells, HAC s.e.
        "eq14": MappingProxyType({"b": 0.181, "se_hac": 0.024, "r2": 0.951, "n": 50}),
        # Section VIII, eq. (15): log Q_t(rho) = log Q_0 - 0.183 t rho^2, R^2 = 0.962.
        "eq15": MappingProxyType({"b": 0.183, "r2": 0.962}),
        # Section VI: "the structural collapse-rate exponent 0.183 derived in (15)".
        "structural": MappingProxyType({"b": 0.183}),
        # Section VII: "robust to seed choice across 32 replications (coefficient of variation below 5 percent on
        # every metric)".
        "table3_cv": MappingProxyType({"max": 0.05}),
        # Section IX: the subsidy at s* "reduces the equilibrium contamination ratio by 46.3 percent at a 1.1
        # percent cost in aggregate model quality".
        "subsidy": MappingProxyType({"rho_reduction": 0.463, "quality_cost": 0.011}),
    }
)


def table4_panel() -> pd.DataFrame:
    """Table IV as a tidy panel (domain, rho, generation, seed, metric, value) for `calibration.ols`.

    One row per (t, rho) cell, 30 rows, metric "relative_quality", domain "paper-table4", seed 0; sorted by rho
    then generation.
    """
    rows = [
        {"domain": "paper-table4", "rho": rho, "generation": t, "seed": 0, "metric": "relative_quality",
         "value": TABLE_IV[t][j]}
        for j, rho in enumerate(TABLE_IV_RHOS)
        for t in TABLE_IV_GENERATIONS
    ]
    return pd.DataFrame(rows, columns=["domain", "rho", "generation", "seed", "metric", "value"])
