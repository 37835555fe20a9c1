"""Result logs survive kills and refuse damage (`sdce.result_log`, issue 16)."""

import json

import pandas as pd
import pytest

from sdce.errors import ConfigError
from sdce.result_log import appended, read_log, write_log

COLUMNS = ("seed", "value")


def test_round_trip_and_empty(tmp_path):
    path = tmp_path / "runs.csv"
    assert list(read_log(path, COLUMNS).columns) == list(COLUMNS) and read_log(path, COLUMNS).empty
    frame = pd.DataFrame({"seed": [1, 2], "value": [0.1, 1 / 3]})
    write_log(path, frame)
    pd.testing.assert_frame_equal(read_log(path, COLUMNS), frame, check_exact=True)


def test_a_kill_between_the_two_writes_leaves_a_readable_log(tmp_path):
    """The checksum file is written first: a kill before the table's rename leaves the old table, still listed."""
    path = tmp_path / "runs.csv"
    old = pd.DataFrame({"seed": [1], "value": [0.5]})
    write_log(path, old)
    new = pd.DataFrame({"seed": [1, 2], "value": [0.5, 0.25]})
    old_text = path.read_text()
    write_log(path, new)
    path.write_text(old_text)  # as if the kill came after the checksum file's rename, before the table's
    pd.testing.assert_frame_equal(read_log(path, COLUMNS), old, check_exact=True)


@pytest.mark.parametrize("damage", ["truncated", "edited", "no checksum file", "bad checksum file"])
def test_damage_is_refused(tmp_path, damage):
    path = tmp_path / "runs.csv"
    write_log(path, pd.DataFrame({"seed": [1, 2, 3], "value": [0.5, 0.25, 0.125]}))
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "edited":
        path.write_text(text.replace("0.25", "0.26"))
    elif damage == "no checksum file":
        (tmp_path / "runs.csv.sha256").unlink()
    else:
        (tmp_path / "runs.csv.sha256").write_text("{not json")
    with pytest.raises(ConfigError, match="runs.csv.* damaged"):
        read_log(path, COLUMNS)


def test_missing_columns_and_appended_dtypes(tmp_path):
    path = tmp_path / "runs.csv"
    write_log(path, pd.DataFrame({"seed": [1]}))
    with pytest.raises(ConfigError, match=r"lacks the columns \['value'\]"):
        read_log(path, COLUMNS)
    rows = pd.DataFrame({"seed": [1], "value": [0.5]})
    assert appended(read_log(tmp_path / "none.csv", COLUMNS), rows).dtypes.tolist() == rows.dtypes.tolist()
    assert len(appended(rows, rows)) == 2
    assert json.loads((tmp_path / "runs.csv.sha256").read_text())["rows"] == 1
