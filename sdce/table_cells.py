"""Numbers as table cells (docs/model.md §12, "Printed tables"): round-off prints as 0 and no cell is a negative zero.

A value within ROUNDOFF of zero, relative to the largest number of its table (`scale`, at least 1), is round-off of
double arithmetic (e.g. a residual of 3.7e-17 beside welfare of order 1) and prints as 0 at the cell's precision; a
value whose printed digits are all zero prints without its sign ("-0.000" -> "0.000", "+0.0%" -> "0.0%").
"""

from __future__ import annotations

import math
import numbers
import re

ROUNDOFF = 1e-12
_NONZERO_DIGIT = re.compile(r"[1-9]")


def cell(value, spec: str = ".4g", scale: float = 1.0) -> str:
    """`value` formatted with `spec` for a table: '' for None or NaN, round-off as 0, never a signed zero."""
    if value is None:
        return ""
    if isinstance(value, numbers.Integral):  # exact: no round-off, no signed zero
        return format(int(value), spec)
    number = float(value)
    if math.isnan(number):
        return ""
    if abs(number) <= ROUNDOFF * max(abs(scale), 1.0):
        number = 0.0
    text = format(number, spec)
    mantissa = re.split(r"[eE]", text)[0]
    if math.isfinite(number) and not _NONZERO_DIGIT.search(mantissa):
        text = text.lstrip("+-")
    return text


def table_scale(values) -> float:
    """The largest finite |value| among `values` (numbers only; others are skipped), at least 1."""
    finite = [abs(float(v)) for v in values
              if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))]
    return max([1.0, *finite])
