"""The golden cases: outputs recorded before a refactor, which the refactored code must reproduce.

`python -m tests.golden_cases` records them in `tests/golden/`; `tests/test_golden.py` recomputes and compares.
"""

import json
import math
import sys
from pathlib import Path

from sdce.config import REGIMES, make_config

GOLDEN = Path(__file__).parent / "golden"
SMALL = dict(n_producers=48, n_trainers=3, generations=4)


def abm_run(regime: str, seed: int) -> dict:
    """`sdce run --json` at a small size."""
    from sdce_abm.model import SDCEModel
    from sdce_abm.output import summary

    model = SDCEModel(config=make_config(regime=regime, **SMALL), seed=seed)
    model.run_model()
    return summary(model).to_json()


def meanfield_run(regime: str) -> dict:
    """`sdce meanfield --json` (closed-form Gaussian limit)."""
    from meanfield.solve import meanfield_summary, solve_meanfield

    cfg = make_config(regime=regime, n_trainers=3, generations=4)
    return meanfield_summary(cfg, solve_meanfield(cfg, "gaussian"), "gaussian").to_json()


def equilibrium_run(regime: str) -> dict:
    """`sdce equilibrium --json` from 2 starts."""
    from meanfield.equilibrium import solve_equilibrium

    return solve_equilibrium(make_config(regime=regime), starts=2, seed=0).to_json()


def retrain_panel(out: Path) -> dict:
    """`sdce retrain --json` on the text domain at `tiny`."""
    from calibration.retrain.loop import make_retrain_config, run_retraining

    cfg = make_retrain_config(domain="text", rhos="0.2,0.8", generations=2, seeds=1, seed=0, size="tiny")
    return {"panel": run_retraining(cfg, out).to_dict("records")}


def cases() -> dict[str, tuple]:
    """name -> (function, arguments); a case whose function takes `out` gets a scratch folder."""
    table = {f"run-{r}-{s}": (abm_run, (r, s)) for r in REGIMES for s in (1, 2)}
    table |= {f"meanfield-{r}": (meanfield_run, (r,)) for r in REGIMES}
    table |= {f"equilibrium-{r}": (equilibrium_run, (r,)) for r in REGIMES if r != "pmir"}
    table["retrain-text-tiny"] = (retrain_panel, ())
    return table


SLOW = {"equilibrium-statutory", "equilibrium-intermediary", "meanfield-pmir"}
"""Cases over 10 s on a 2-core machine, run with `-m slow`."""


def compute(name: str, scratch: Path) -> dict:
    function, args = cases()[name]
    value = function(scratch) if function is retrain_panel else function(*args)
    return json.loads(json.dumps(value))


def differences(expected, actual, path: str = "", rtol: float = 1e-5) -> list[str]:
    """Where two JSON values differ: numbers beyond `rtol` (relative, absolute below 1), anything else exactly."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{path}: keys {sorted(expected)} != {sorted(actual)}"]
        return [d for k in expected for d in differences(expected[k], actual[k], f"{path}/{k}", rtol)]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(expected)} != {len(actual)}"]
        return [d for i, (a, b) in enumerate(zip(expected, actual)) for d in differences(a, b, f"{path}[{i}]", rtol)]
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool):
        if expected == actual or (math.isnan(expected) and math.isnan(actual)):
            return []
        if abs(expected - actual) <= rtol * max(1.0, abs(expected)):
            return []
    elif expected == actual:
        return []
    return [f"{path}: {expected!r} != {actual!r}"]


if __name__ == "__main__":
    import tempfile
    import time

    GOLDEN.mkdir(exist_ok=True)
    for name in sys.argv[1:] or cases():
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            value = compute(name, Path(scratch))
        (GOLDEN / f"{name}.json").write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
