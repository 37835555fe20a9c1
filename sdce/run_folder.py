"""A run folder belongs to one set of settings (docs/architecture.md): the first run records them in a JSON file
of the folder, and a later run with other settings is refused, with the differences, before any work starts, so
that a resumed run never mixes results made under different settings."""

from __future__ import annotations

import json
from pathlib import Path

from sdce.atomic import write_text_atomic
from sdce.errors import ConfigError
from sdce.strict_json import dumps, strict


def claim_folder(out: Path, record: dict, name: str, what: str, merge: bool = False) -> None:
    """Record `record` in `out/name`, or refuse `out` if it holds `what` made with other settings. Without `merge`
    the recorded settings must equal `record`; with `merge` only the keys both hold must agree, and new keys are
    added (one log shared by several tables)."""
    path = Path(out) / name
    stored = strict(json.loads(path.read_text())) if path.exists() else {}
    record = strict(record)
    keys = [k for k in record if k in stored] if merge else sorted(set(record) | set(stored)) if stored else []
    diff = [f"{k}: {stored.get(k)!r} there, {record.get(k)!r} now" for k in keys if stored.get(k) != record.get(k)]
    if diff:
        raise ConfigError(f"{out} holds {what} with other settings ({'; '.join(diff)}); use another --out or "
                          "delete the folder")
    Path(out).mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, dumps({**stored, **record}, indent=1))
