"""The ABM's collapse panel for eq. (15) and Table IV: relative quality Q_t(rho)/Q_0 with rho held fixed.

rho is held fixed with `fixed_rho` (docs/model.md §12): every producer's units are (1 - rho) human and producers do not
choose provenance, so eq. (1) gives rho_t = rho in every generation and every regime. The elasticities gamma(rho),
delta(rho) and the input volumes are then constant over t, and Q_t/Q_0 = exp(-kappa_Q (D_t - D_0)): only the
collapse channel moves it. Generation 0 is fitted to human data only, as in every ABM run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sdce.atomic import write_text_atomic
from sdce.config import SDCEConfig
from sdce.errors import ConfigError
from sdce.paper.published import TABLE_IV_RHOS


def abm_collapse_panel(cfg: SDCEConfig, rhos: Sequence[float], seeds: Sequence[int],
                       on_run: Callable[[], None] | None = None) -> pd.DataFrame:
    """Tidy panel (domain "abm"; metrics relative_quality, quality, kl) of ABM runs at each fixed rho and seed."""
    from sdce_abm.model import SDCEModel

    rows = []
    for rho in rhos:
        for seed in seeds:
            model = SDCEModel(config=cfg.replace(fixed_rho=float(rho)), seed=int(seed))
            model.run_model()
            frame = model.datacollector.get_model_vars_dataframe()
            quality = frame["quality"].to_numpy()
            series = {"relative_quality": quality / quality[0], "quality": quality, "kl": frame["kl"].to_numpy()}
            for metric, values in series.items():
                rows.extend({"domain": "abm", "rho": float(rho), "generation": t, "seed": int(seed),
                             "metric": metric, "value": float(v)} for t, v in enumerate(np.asarray(values)))
            if on_run is not None:
                on_run()
    return pd.DataFrame(rows)


def table4_abm_panel(cfg: SDCEConfig, seeds: int, first_seed: int, out: Path,
                     on_run: Callable[[], None] | None = None) -> pd.DataFrame:
    """The panel at Table IV's rhos over seeds `first_seed, ..., first_seed + seeds - 1`, written to
    `out/abm_panel.csv` (Tables II and IV, `sdce calibrate ols --source abm`)."""
    if seeds < 1:
        raise ConfigError(f"ABM seeds per rho must be >= 1; got {seeds}")
    frame = abm_collapse_panel(cfg, TABLE_IV_RHOS, range(first_seed, first_seed + seeds), on_run=on_run)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "abm_panel.csv", frame.to_csv(index=False))
    return frame
