"""The memory and time budgets (`sdce.budget`): a refused job is told a size that fits, checked against the need
evaluated directly; the budgets follow their variables; the ABM refuses an oversized configuration itself."""

from __future__ import annotations

import re

import pytest

from sdce.budget import GIB, abm_need, check_abm, check_budget, collapse_need, memory_budget, time_budget
from sdce.config import make_config
from sdce.errors import ConfigError
from sdce_abm.model import SDCEModel


def _hinted(message: str, option: str) -> int:
    return int(re.search(rf"--{option} (\d+)", message).group(1))


@pytest.mark.parametrize("field,env,value,size", [("memory", "SDCE_MEMORY_GIB", "4", dict(producers=10**6)),
                                                  ("seconds", "SDCE_TIME_HOURS", "1", dict(generations=10**6))])
def test_the_size_named_as_fitting_is_the_largest_that_fits(field, env, value, size, monkeypatch):
    monkeypatch.setenv(env, value)
    sizes = {"producers": 64, "trainers": 4, "generations": 10, **size}
    budget = memory_budget() if field == "memory" else time_budget()
    with pytest.raises(ConfigError, match="budget") as refused:
        check_budget("an ABM run", abm_need, **sizes)
    (name, _), = size.items()
    fits = _hinted(str(refused.value), name)
    assert getattr(abm_need(**{**sizes, name: fits}), field) <= budget
    assert getattr(abm_need(**{**sizes, name: fits + 1}), field) > budget
    check_budget("an ABM run", abm_need, **{**sizes, name: fits})  # the hint is accepted


def test_budgets_follow_their_variables(monkeypatch):
    monkeypatch.setenv("SDCE_MEMORY_GIB", "2.5")
    monkeypatch.setenv("SDCE_TIME_HOURS", "0.5")
    assert memory_budget() == 2.5 * GIB and time_budget() == 1800.0
    for env in ("SDCE_MEMORY_GIB", "SDCE_TIME_HOURS"):
        for bad in ("lots", "0", "-1", "nan"):
            monkeypatch.setenv(env, bad)
            with pytest.raises(ConfigError, match=env):
                check_abm(make_config(n_producers=64, n_trainers=4))
        monkeypatch.delenv(env)


def test_time_grows_with_every_size_and_accumulate_costs_more():
    base = dict(producers=64, trainers=4, generations=10)
    for name in base:
        assert abm_need(**{**base, name: 2 * base[name]}).seconds > abm_need(**base).seconds
    assert abm_need(**base, runs=3).seconds == pytest.approx(3 * abm_need(**base).seconds)
    assert collapse_need(100, 1, 50, 10, True).seconds > collapse_need(100, 1, 50, 10, False).seconds


def test_the_abm_refuses_an_oversized_configuration(monkeypatch):
    monkeypatch.setenv("SDCE_MEMORY_GIB", "1.5")  # the base process is counted as 1 GiB
    with pytest.raises(ConfigError, match="memory budget"):
        SDCEModel(seed=0, n_producers=50_000, n_trainers=16)  # 0.76 GiB of pairs


def test_the_size_named_fits_both_budgets(monkeypatch):
    """A job over the memory budget is told a size that also fits the time budget (else the hint is refused next)."""
    monkeypatch.setenv("SDCE_MEMORY_GIB", "4")
    monkeypatch.setenv("SDCE_TIME_HOURS", "1")
    sizes = {"producers": 10**7, "trainers": 1000, "generations": 20_000}  # time binds below memory's N
    with pytest.raises(ConfigError, match="memory budget") as refused:
        check_budget("an ABM run", abm_need, **sizes)
    fits = abm_need(**{**sizes, "producers": _hinted(str(refused.value), "producers")})
    assert fits.memory <= memory_budget() and fits.seconds <= time_budget()


@pytest.mark.parametrize("table,cells", [("table3", 5), ("table5", 6)])
def test_tables_iii_and_v_bound_every_run_they_make(table, cells, monkeypatch, tmp_path):
    """The bound counts seeds x cells (`calibration.runs.planned_runs`), not seeds: a budget that 32 runs fit but
    the table's runs do not is refused before any work."""
    from typer.testing import CliRunner

    from calibration.runs import TABLE3_REGIMES, TABLE5_POLICIES, planned_runs, seed_list
    from sdce.cli import app

    cfg = make_config()
    seeds = seed_list(32)
    one = abm_need(cfg.n_producers, cfg.n_trainers, cfg.generations).seconds
    keywords = {"regimes": TABLE3_REGIMES} if table == "table3" else {"policies": TABLE5_POLICIES}
    assert len(planned_runs(seeds, **keywords)[1]) >= cells * len(seeds)
    monkeypatch.setenv("SDCE_TIME_HOURS", str(2 * len(seeds) * one / 3600))
    result = CliRunner().invoke(app, ["reproduce", table, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "time budget" in result.output, result.output
    assert not (tmp_path / "out").exists()
