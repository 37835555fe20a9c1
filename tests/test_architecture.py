"""The import contract of docs/architecture.md: layers that import only downwards, and two engines apart."""

import configparser
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    from sdce.config import make_config
    from sdce.errors import ConfigError
    from sdce.regimes import REGISTRY

    for name, module in REGISTRY.items():
        assert make_config(regime=name).regime == name  # registered is configurable
        with pytest.raises(ConfigError, match="regime"):
            make_config(regime=name + "x")
        assert module.__name__ == f"sdce.regimes.{name}" and callable(module.settle)
        if name != "pmir":  # PMIR's bundles come from its learning rounds, run by the engines with their state
            assert callable(module.sampled_bundles) and callable(module.expected_bundles)


def test_no_import_cycles():
    """No module imports itself back through others (function-body imports included): Tarjan on grimp's graph."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = [stack.pop()]
            while component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"
