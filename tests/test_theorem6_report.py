"""Theorem 6's result (meanfield/theorem6.py): an epsilon never reached is None ("not reached within T") in the
result, its strict JSON, CSV, the section and the CLI line, and no slope is fitted through fewer than
MIN_FIT_POINTS epsilons. The continuum PMIR is replaced by known paths, so the iterations are known exactly."""

import json

import numpy as np
import pandas as pd
import pytest

import meanfield.theorem6 as theorem6
from calibration.tables import theorem6_section
from sdce.config import load_config
from sdce.strict_json import dumps

# distance 2^-k for rounds k = 0..9, then an oscillation of +-0.05: the floor is 0.05
PATH = np.concatenate([1 + 2.0 ** -np.arange(10), 1 + 0.05 * (-1.0) ** np.arange(20)])


@pytest.fixture()
def known_paths(monkeypatch):
    monkeypatch.setattr(theorem6, "solve_meanfield",
                        lambda cfg: {f"learning_{k}": PATH.copy() for k in theorem6.OBSERVABLES})


def first_round_within(eps: float) -> int:
    """Independent of the code: the first round from which |PATH - 1| stays <= eps (the tail's mean is 1)."""
    gap = np.abs(PATH - 1)
    return next(k for k in range(len(gap)) if (gap[k:] <= eps).all())


def test_unreached_epsilons_are_none_everywhere(known_paths, tmp_path):
    epsilons = (0.5, 0.3, 0.2, 0.1, 0.03, 0.01)
    result = theorem6.run_theorem6(load_config(None), tmp_path, generations=3, epsilons=epsilons)
    assert result["iterations"] == [first_round_within(e) for e in epsilons[:4]] + [None, None]
    assert result["epsilon_floor"] == pytest.approx(0.05)
    reached = np.array(epsilons[:4])
    slope = np.polyfit(np.log(reached), np.log([first_round_within(e) for e in reached]), 1)[0]
    assert result["fitted_points"] == 4 and result["slope"] == pytest.approx(slope)
    assert json.loads(dumps(result))["iterations"][-2:] == [None, None]  # null in strict JSON, never -1
    csv = pd.read_csv(tmp_path / "theorem6.csv")
    assert csv["reached"].tolist() == [True] * 4 + [False] * 2 and csv["iterations"].isna().tolist()[-2:] == [True] * 2
    text = theorem6_section(result, "theorem6.png")
    assert "-1" not in text and "ε = 0.03: not reached" in text and "over 4 ε" in text
    assert "**does not hold** (not reached: ε ≤ 0.03" in text and (tmp_path / "theorem6.png").stat().st_size > 0


def test_no_slope_through_fewer_than_four_epsilons(known_paths, tmp_path):
    result = theorem6.run_theorem6(load_config(None), tmp_path, generations=3, epsilons=(0.5, 0.3, 0.2, 0.01))
    assert result["fitted_points"] == 3 < theorem6.MIN_FIT_POINTS and result["slope"] is None
    line = theorem6.describe_theorem6(result)
    assert "no slope fitted: 3 ε reached, fewer than 4" in line and "slope of" not in line
    assert "**not checked**" in theorem6_section(result, "theorem6.png")
    assert len(theorem6.EPSILONS) >= 12  # extra epsilons cost nothing beyond the one run
