"""Every JSON the project prints or writes is strict RFC 8259: no Infinity or NaN tokens (`sdce.strict_json`)."""

import json
import math

import pytest
from typer.testing import CliRunner

from sdce.cli import app
from sdce.strict_json import dumps, strict


def strict_load(text: str):
    def refuse(token):
        raise ValueError(f"non-JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_strings_at_any_depth():
    value = {"a": math.inf, "b": [math.nan, -math.inf, (1.5, math.inf)], "c": 1.0, "d": "x"}
    assert strict_load(dumps(value)) == {"a": "inf", "b": ["nan", "-inf", [1.5, "inf"]], "c": 1.0, "d": "x"}
    assert strict(strict(value)) == strict(value)
    with pytest.raises(ValueError):
        strict_load(json.dumps(value))  # what plain json.dumps would have written


def test_run_json_and_summary_are_strict(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--producers", "24", "--trainers", "2", "--generations", "1",
                                      "--regime", "shapley", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    printed = strict_load(result.stdout)
    assert printed["config"]["royalty_cap"] == "inf" and printed["config"]["train_time"] == "inf"
    assert strict_load((out / "summary.json").read_text()) == printed
