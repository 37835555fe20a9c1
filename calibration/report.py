"""`sdce reproduce all` as sections that degrade, never lose: each finished section is on disk at once, a failed one
is reported with its error and the run goes on, and a rerun resumes from what is there."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Callable, TypeVar

from sdce.atomic import write_text_atomic

T = TypeVar("T")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class ReportSections:
    """The sections of one report in `folder`, kept in `folder/sections/` for the configuration `key`.

    `value(name, fn)` runs a step whose result later sections need (None when it failed; `cached`: a JSON value
    reused by a rerun); `section(name, fn)` runs a step that returns the section's Markdown and keeps it
    (`cached`: reused by a rerun); `needs(*names)` stops a section whose inputs failed. Failures are collected in
    `failed` (name -> message); `write_report` puts every section, or its error, into report.md.
    """

    def __init__(self, folder: Path, key: dict) -> None:
        self.folder = Path(folder)
        self.store = self.folder / "sections"
        stamp = self.store / "key.json"
        text = json.dumps(key, sort_keys=True)
        if stamp.exists() and stamp.read_text() != text:  # sections of another configuration: start afresh
            shutil.rmtree(self.store)
        self.store.mkdir(parents=True, exist_ok=True)
        if not stamp.exists():
            write_text_atomic(stamp, text)
        self.timings: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.texts: dict[str, str | None] = {}

    def _attempt(self, name: str, fn: Callable[[], T]) -> T | None:
        start = time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - a failed section is reported, and the run goes on
            self.failed[name] = f"{type(exc).__name__}: {exc}"
            return None
        finally:
            self.timings[name] = time.perf_counter() - start

    def value(self, name: str, fn: Callable[[], T], cached: bool = False) -> T | None:
        """The result of `fn`, or None if it failed; `cached`: a JSON value kept for reruns."""
        path = self.store / f"{_slug(name)}.json"
        if cached and path.exists():
            return json.loads(path.read_text())["value"]
        result = self._attempt(name, fn)
        if cached and result is not None:
            write_text_atomic(path, json.dumps({"value": result}))
        return result

    def needs(self, *names: str) -> None:
        """Raise if any of the steps `names` failed: the section that needs them cannot be made."""
        missing = [name for name in names if name in self.failed]
        if missing:
            raise RuntimeError(f"needs {', '.join(missing)}, which failed")

    def section(self, name: str, fn: Callable[[], str], cached: bool = True) -> None:
        path = self.store / f"{_slug(name)}.md"
        if cached and path.exists():
            self.texts[name] = path.read_text()
            return
        text = self._attempt(name, fn)
        if text is not None:
            write_text_atomic(path, text)
        self.texts[name] = text

    def write_report(self, header: str) -> Path:
        """DIR/report.md: the header, then each section (or its error); headings inside sections are demoted."""
        def demote(text: str) -> str:
            return "\n".join("##" + line if line.startswith("#") else line for line in text.strip().splitlines())

        failed_steps = [k for k in self.failed if k not in self.texts]
        parts = [f"## {name}\n\n" + (demote(text) if text is not None else
                                     f"**This section failed:** {self.failed[name]}")
                 for name, text in self.texts.items()]
        if failed_steps:
            parts.insert(0, "## Failed steps\n\n" + "\n".join(f"- {k}: {self.failed[k]}" for k in failed_steps))
        path = self.folder / "report.md"
        write_text_atomic(path, f"{header.strip()}\n\n" + "\n\n".join(parts) + "\n")
        return path
