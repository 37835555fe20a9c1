"""Result logs: tables that grow as runs finish and that a rerun resumes from (docs/architecture.md).

Each write replaces the whole CSV atomically (`sdce.atomic`), so a kill leaves the old table or the new one, never
a torn line. Beside it, `<name>.sha256` holds the SHA-256 of the current table and of the one before; it is written
first, so a kill between the two writes leaves a table whose checksum is still listed. On reading, a table whose
checksum is not listed (truncated, edited, or written without its checksum file) is refused as damaged, never read
as valid.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from sdce.atomic import write_text_atomic
from sdce.errors import ConfigError


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _listed(path: Path) -> dict:
    sums = _checksum_path(path)
    if not sums.exists():
        return {}
    try:
        listed = json.loads(sums.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{sums} is damaged (not JSON): delete {path} and {sums.name} to start over") from None
    return listed if isinstance(listed, dict) else {}


def write_log(path: Path, frame: pd.DataFrame) -> None:
    """Replace the log at `path` by `frame` (no index), atomically, with its checksum listed first."""
    path = Path(path)
    text = frame.to_csv(index=False)
    listed = _listed(path)
    previous = _digest(path.read_text()) if path.exists() else None
    if previous not in (listed.get("current"), listed.get("previous")):
        previous = None
    write_text_atomic(_checksum_path(path), json.dumps({"current": _digest(text), "previous": previous,
                                                        "rows": len(frame)}))
    write_text_atomic(path, text)


def read_log(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The log at `path` (an empty table of `columns` when there is none yet); a damaged one raises ConfigError
    naming the file."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(columns))
    text = path.read_text(errors="replace")
    listed = _listed(path)
    if _digest(text) not in (listed.get("current"), listed.get("previous")):
        why = "its checksum file is missing" if not listed else "its SHA-256 matches no listed version"
        raise ConfigError(f"{path} is damaged ({why}: truncated, edited, or not written by this sdce); delete it "
                          f"and {_checksum_path(path).name}, or the folder, to start over")
    frame = pd.read_csv(io.StringIO(text))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path} lacks the columns {missing}: it was written by another version or command")
    return frame


def appended(log: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`log` with `rows` below it; `rows` alone while `log` is empty, so that the columns keep the rows' dtypes."""
    return rows.reset_index(drop=True) if log.empty else pd.concat([log, rows], ignore_index=True)
