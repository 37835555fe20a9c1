"""The ABM's collapse panel for eq. (15) and Table IV: relative quality Q_t(rho)/Q_0 with rho held fixed.

rho is held fixed with `fixed_rho` (MODEL.md §12): every producer's units are (1 - rho) human and producers do not
choose provenance, so eq. (1) gives rho_t = rho in every generation and every regime. The elasticities gamma(rho),
delta(rho) and the input volumes are then constant over t, and Q_t/Q_0 = exp(-kappa_Q (D_t - D_0)): only the
collapse channel moves it. Generation 0 is fitted to human data only, as in every ABM run.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sdce.config import SDCEConfig


def abm_collapse_panel(cfg: SDCEConfig, rhos: Sequence[float], seeds: Sequence[int],
                       on_run: Callable[[], None] | None = None) -> pd.DataFrame:
    """Tidy panel (domain "abm"; metrics relative_quality, quality, kl) of ABM runs at each fixed rho and seed."""
    from sdce_abm.model import SDCEModel

    rows = []
    for rho in rhos:
        for seed in seeds:
            model = SDCEModel(config=cfg.replace(fixed_rho=float(rho)), seed=int(seed))
            while model.running:
                model.step()
            frame = model.datacollector.get_model_vars_dataframe()
            quality = frame["quality"].to_numpy()
            series = {"relative_quality": quality / quality[0], "quality": quality, "kl": frame["kl"].to_numpy()}
            for metric, values in series.items():
                rows.extend({"domain": "abm", "rho": float(rho), "generation": t, "seed": int(seed),
                             "metric": metric, "value": float(v)} for t, v in enumerate(np.asarray(values)))
            if on_run is not None:
                on_run()
    return pd.DataFrame(rows)
