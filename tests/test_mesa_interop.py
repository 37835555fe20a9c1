"""SDCEModel as Mesa 3.3 tools use it: `mesa.batch_run` over NumPy grids, `seed=` / `rng=` as `mesa.Model` takes
them, scalar model reporters and per-producer provenance as an agent-type reporter (docs/model.md §10)."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

from sdce.config import make_config
from sdce.errors import ConfigError
from sdce_abm.agents import Producer
from sdce_abm.model import SDCEModel
from sdce_abm.output import trajectory

TINY = dict(n_trainers=2, generations=2, probe_size=32, kl_samples=256, regime="statutory")


def _frame(model: SDCEModel) -> pd.DataFrame:
    return model.datacollector.get_model_vars_dataframe()


def test_batch_run_over_a_numpy_grid_gives_scalar_reproducible_rows_that_differ_by_seed():
    sizes = np.arange(32, 65, 32)
    rows = mesa.batch_run(SDCEModel, parameters={"n_producers": sizes, **TINY, "rng": [1, 2]}, iterations=1,
                          max_steps=10, number_processes=1, data_collection_period=1, display_progress=False)
    # Mesa 3.3 reports steps 0..steps-1 of model_vars: generations 0..T-1, one row each (no per-agent rows)
    assert len(rows) == len(sizes) * 2 * TINY["generations"]
    for row in rows:
        assert all(np.ndim(value) == 0 for value in row.values()), row
    table = pd.DataFrame(rows)
    outcomes = [c for c in _frame(SDCEModel(seed=0, n_producers=32, **TINY)) if c in table]
    assert {"rho", "quality", "price", "W"} <= set(outcomes)
    for (n, r), runs in table.groupby(["n_producers", "rng"]):
        alone = SDCEModel(seed=int(r), n_producers=int(n), **TINY)  # the same integer as seed: the same stream
        alone.run_model()
        expected = _frame(alone)[outcomes].iloc[runs["Step"].to_numpy()].to_numpy()
        np.testing.assert_array_equal(runs[outcomes].to_numpy(), expected)
    for _, by_size in table.groupby("n_producers"):
        one, two = (by_size[by_size["rng"] == r][["rho", "quality", "W"]].to_numpy() for r in (1, 2))
        assert not np.array_equal(one, two)


def test_rng_and_seed_follow_mesa_model():
    with pytest.raises(ConfigError, match="seed, rng: give one or neither"):
        SDCEModel(seed=1, rng=1, n_producers=32, **TINY)
    for bad in ("abc", -1, True, 1.5):
        with pytest.raises(ConfigError, match="^rng: "):
            SDCEModel(rng=bad, n_producers=32, **TINY)
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises(ConfigError, match="^seed: "):
            SDCEModel(seed=bad, n_producers=32, **TINY)
    by_numpy_seed = SDCEModel(seed=np.int64(3), n_producers=32, **TINY)
    by_rng = SDCEModel(rng=3, n_producers=32, **TINY)
    assert by_numpy_seed.seed == by_rng.seed == 3
    pd.testing.assert_frame_equal(_frame(by_numpy_seed), _frame(by_rng))
    first, second = (SDCEModel(rng=np.random.default_rng(3), n_producers=32, **TINY) for _ in range(2))
    assert first.seed is None
    pd.testing.assert_frame_equal(_frame(first), _frame(second))  # a generator in the same state: the same run
    shared = np.random.default_rng(3)
    model = SDCEModel(rng=shared, n_producers=32, **TINY)
    assert model.rng is shared  # as mesa.Model: the model draws from the generator it was given


def test_provenance_is_an_agent_type_reporter_and_rows_hold_scalars():
    model = SDCEModel(seed=5, n_producers=32, **TINY)
    history = [model.producer_state.phi.copy()]
    while model.running:
        model.step()
        history.append(model.producer_state.phi.copy())
    frame = _frame(model)
    assert "phi" not in frame and all(frame[c].map(np.ndim).eq(0).all() for c in frame)
    path = model.provenance_path()
    assert list(path.index) == list(range(TINY["generations"] + 1)) and path.index.name == "generation"
    np.testing.assert_array_equal(np.stack(path.to_numpy()), np.stack(history))
    per_agent = model.datacollector.get_agenttype_vars_dataframe(Producer)
    assert len(per_agent) == 32 * (TINY["generations"] + 1)
    assert frame["provenance"].to_numpy() == pytest.approx(np.stack(history).mean(axis=1), abs=1e-15)
    written = trajectory(model)  # trajectory.csv: percentiles of the same vectors
    for q in (10, 50, 90):
        np.testing.assert_array_equal(written[f"provenance_p{q}"], np.percentile(np.stack(history), q, axis=1))


@pytest.mark.parametrize("name, value", [("n_producers", np.int64(64)), ("n_trainers", np.int32(3)),
                                         ("temperature", np.float32(0.5)), ("fixed_rho", np.float64(0.25)),
                                         ("generations", np.uint8(4))])
def test_numpy_scalars_configure_like_python_numbers(name, value):
    cfg = make_config({name: value})
    assert getattr(cfg, name) == value.item() and type(getattr(cfg, name)) is type(value.item())
    assert cfg == make_config({name: value.item()})


@pytest.mark.parametrize("name, value, message", [
    ("n_producers", np.float64(64.5), "n_producers: Input should be a valid integer (got 64.5)"),
    ("n_producers", np.float64(64.0), "n_producers: Input should be a valid integer (got 64.0)"),
    ("n_producers", np.bool_(True), "n_producers: Input should be a valid integer (got True)"),
    ("n_producers", True, "n_producers: Input should be a valid integer (got True)"),
    ("temperature", np.bool_(True), "temperature: Input should be a valid number (got True)"),
    ("n_producers", "64", "n_producers: Input should be a valid integer (got '64')"),
    ("temperature", np.str_("0.5"), "temperature: Input should be a valid number"),
    ("n_producers", np.int64(1), "n_producers: Input should be greater than or equal to 2 (got 1)"),
])
def test_the_configuration_stays_strict_about_numpy_scalars(name, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_config({name: value})
