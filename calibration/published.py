"""The paper's published reduced-form numbers, typed in as data with their source.

Source: Lundström-Imanov (2026), *The Economics of Model Collapse*, arXiv:2605.20279v1:
Section VI (eq. (13), eq. (14), Table II) and Section VIII (eq. (15), Table IV).
These are *targets* to compare against, never inputs to our own estimates (MODEL.md §12: compute everything,
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

# The paper's stated estimates, in the collapse sign convention (b > 0: quality falls / perplexity rises).
STATED = MappingProxyType(
    {
        # Section VI, eq. (14): OLS of eq. (13) on 50 pooled (t, rho) cells, HAC s.e.
        "eq14": MappingProxyType({"b": 0.181, "se_hac": 0.024, "r2": 0.951, "n": 50}),
        # Section VIII, eq. (15): log Q_t(rho) = log Q_0 - 0.183 t rho^2, R^2 = 0.962.
        "eq15": MappingProxyType({"b": 0.183, "r2": 0.962}),
        # Section VI: "the structural collapse-rate exponent 0.183 derived in (15)".
        "structural": MappingProxyType({"b": 0.183}),
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
