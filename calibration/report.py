"""`sdce reproduce all` as sections that degrade, never lose: each finished section is on disk at once, a failed one
is reported with its error and the run goes on, and a rerun resumes from what is there.

report.md opens with a summary of the paper's claims read back from the sections themselves: a section states each
claim it checks with `verdict` (**holds**, **does not hold**, **not checked**) on one line, with its numbers, and
the summary lists those lines under a link to the section (docs/model.md §12, "The report")."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Callable, TypeVar

from sdce.atomic import write_text_atomic

T = TypeVar("T")
VERDICTS = {True: "**holds**", False: "**does not hold**", None: "**not checked**"}


def verdict(holds: bool | None) -> str:
    """How a section states the outcome of a claim it checks (None: it could not be checked)."""
    return VERDICTS[holds]


def claims(text: str) -> list[tuple[bool | None, str]]:
    """The claim lines of a section's Markdown, each with its outcome: every line that states a `verdict`."""
    found = []
    for line in text.splitlines():
        outcome = next((k for k, word in VERDICTS.items() if word in line), "none")
        if outcome != "none":
            found.append((outcome, re.sub(r"^\s*-\s+", "", line).strip()))
    return found


def anchor(heading: str, seen: dict[str, int]) -> str:
    """GitHub's anchor of a Markdown heading (lower case, punctuation dropped, spaces to hyphens, "-1", "-2", ...
    for repeats); `seen` counts the anchors of the headings above it."""
    slug = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


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

    def summary(self, links: dict[str, str] | None = None) -> list[str]:
        """The summary's lines: per section (in order), the claims it states, or that it failed; a step that failed
        before any section is listed too. `links` (name -> anchor): a Markdown list, each section a link and its
        claims indented under it; without: one plain line per claim."""
        entries = [(name, None if text is None else claims(text)) for name, text in self.texts.items()]
        entries += [(name, None) for name in self.failed if name not in self.texts]
        lines = []
        for name, found in entries:
            head = f"- [{name}](#{links[name]})" if links else name
            if found is None:
                lines.append(f"{head}: **failed**: {self.failed[name]}")
            elif not found:
                lines.append(f"{head}: no claim checked")
            elif links:
                tally = ", ".join(f"{word.strip('*')}: {sum(o is k for o, _ in found)}"
                                  for k, word in VERDICTS.items() if any(o is k for o, _ in found))
                lines += [f"{head}: {tally}", *(f"  - {line}" for _, line in found)]
            else:
                lines += [f"{name}: {line}" for _, line in found]
        return lines

    def write_report(self, header: str) -> Path:
        """DIR/report.md: the header, the summary of the claims (`summary`, each section linked), then each section
        (or its error); headings inside sections are demoted."""
        def demote(text: str) -> str:
            return "\n".join("##" + line if line.startswith("#") else line for line in text.strip().splitlines())

        failed_steps = [k for k in self.failed if k not in self.texts]
        parts = [(name, f"## {name}\n\n" + (demote(text) if text is not None else
                                            f"**This section failed:** {self.failed[name]}"))
                 for name, text in self.texts.items()]
        if failed_steps:
            parts.insert(0, ("Failed steps", "## Failed steps\n\n"
                             + "\n".join(f"- {k}: {self.failed[k]}" for k in failed_steps)))
        title = "## Summary: the paper's claims, checked by each section"
        seen: dict[str, int] = {}
        for line in [*header.strip().splitlines(), title]:
            if line.startswith("#"):
                anchor(line, seen)
        links = {}
        for name, text in parts:  # a part's first line is its heading
            links[name] = [anchor(line, seen) for line in text.splitlines() if line.startswith("#")][0]
        links.update({k: links["Failed steps"] for k in failed_steps})
        found = [o for text in self.texts.values() if text is not None for o, _ in claims(text)]
        failed = [k for k, text in self.texts.items() if text is None] + failed_steps
        count = (f"{found.count(True)} of the {len(found)} claims checked hold, {found.count(False)} do not"
                 + (f", {found.count(None)} could not be checked" if None in found else "")
                 + (f"; failed: {', '.join(failed)}" if failed else "") + ".")
        summary = f"{title}\n\n{count}\n\n" + "\n".join(self.summary(links))
        path = self.folder / "report.md"
        write_text_atomic(path, f"{header.strip()}\n\n{summary}\n\n" + "\n\n".join(t for _, t in parts) + "\n")
        return path
