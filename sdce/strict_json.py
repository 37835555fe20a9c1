"""Strict JSON (RFC 8259) for everything the project writes or prints: a non-finite number, which JSON cannot
hold, is written as the string "inf", "-inf" or "nan" (e.g. `royalty_cap = inf`, no cap; docs/model.md §10)."""

from __future__ import annotations

import json
import math
from typing import Any


def strict(value: Any) -> Any:
    """`value` with every non-finite float (at any depth of dicts, lists and tuples) replaced by its string."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """`json.dumps` of `strict(value)`; a value JSON cannot hold raises instead of writing non-JSON."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)
