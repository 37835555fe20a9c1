"""Atomic writes: a result file holds either its old or its new content, never half of one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` fills a temporary file beside `path`; it is flushed to disk, then renamed over `path`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    handle = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    """`path.write_text(text)`, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def save_figure_atomic(fig, path: Path, dpi: int) -> None:
    """`fig.savefig(path)` (a Matplotlib Figure), atomically; the format is the suffix of `path`."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".")))
