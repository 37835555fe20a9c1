"""A run folder belongs to one set of settings (docs/architecture.md): the first run records them in a JSON file
of the folder, and a later run with other settings is refused, with the differences, before any work starts, so
that a resumed run never mixes results made under different settings. `--force` clears a folder that an earlier
run recorded; a folder of files no run recorded is never cleared."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from sdce.atomic import write_text_atomic
from sdce.errors import ConfigError
from sdce.strict_json import dumps, strict

RECORD = "run.json"  # the record of the commands' run folders


def check_folder(out: Path, option: str = "--out") -> Path:
    """Refuse, before any work and without writing, an output folder that cannot be one: an existing file, a path
    below a file, or a place where no folder can be made (e.g. under /proc)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {out}: is a file, not a folder")
    base = out
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"{option} {out}: {base} is a file, so no folder can be made below it")
    try:
        tempfile.TemporaryDirectory(dir=base).cleanup()
    except OSError as exc:
        raise ConfigError(f"{option} {out}: no folder can be made in {base} ({exc.strerror})") from None
    return out


def _clear(out: Path) -> None:
    for child in out.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def claim_folder(out: Path, record: dict, name: str, what: str, merge: bool = False, force: bool = False) -> None:
    """Record `record` in `out/name`, or refuse `out` if it holds `what` made with other settings. Without `merge`
    the recorded settings must equal `record`, and a folder holding files but no record is refused too; with
    `merge` only the keys both hold must agree, and new keys are added (one log shared by several tables).
    `force` clears a folder whose record differs, instead of refusing it."""
    out = check_folder(out)
    path = out / name
    stored = strict(json.loads(path.read_text())) if path.exists() else {}
    record = strict(record)
    if not stored and not merge and out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} holds files that no sdce run recorded (no {name}); it is not cleared, even with "
                          "--force: use another --out or delete the folder")
    keys = [k for k in record if k in stored] if merge else sorted(set(record) | set(stored)) if stored else []
    diff = [f"{k}: {stored.get(k)!r} there, {record.get(k)!r} now" for k in keys if stored.get(k) != record.get(k)]
    if diff and force:
        _clear(out)
        stored = {}
    elif diff:
        raise ConfigError(f"{out} holds {what} with other settings ({'; '.join(diff)}); use another --out, "
                          "delete the folder, or pass --force to clear it")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, dumps({**stored, **record}, indent=1))
