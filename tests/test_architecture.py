"""The import contract of docs/architecture.md: layers that import only downwards, and two engines apart."""

import configparser
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sdce", "sdce_abm", "meanfield", "calibration")


def _layer_modules() -> list[str]:
    contract = configparser.ConfigParser()
    contract.read(ROOT / ".importlinter")
    layers = contract["importlinter:contract:layers"]["layers"].split("\n")
    return [m.strip() for line in layers for m in line.replace("|", ":").split(":") if m.strip()]


def _modules() -> list[str]:
    found = []
    for package in PACKAGES:
        found += [m.name for m in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}.")]
    return found


def test_import_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 kept, 0 broken" in run.stdout


def test_every_module_sits_in_a_layer():
    """A new module must be placed in the layer contract (package __init__ files hold no imports across layers)."""
    layers = _layer_modules()
    placed = [m for m in _modules() if any(m == layer or m.startswith(layer + ".") for layer in layers)]
    missing = sorted(set(_modules()) - set(placed))
    assert not missing, f"modules in no layer of .importlinter: {missing}"


def test_every_regime_is_one_registered_module():
    from sdce.config import REGIMES
    from sdce.regimes import REGISTRY

    assert tuple(REGISTRY) == REGIMES
    for name, module in REGISTRY.items():
        assert module.__name__ == f"sdce.regimes.{name}" and callable(module.settle)
        if name != "pmir":  # PMIR's bundles come from its learning rounds, run by the engines with their state
            assert callable(module.sampled_bundles) and callable(module.expected_bundles)
