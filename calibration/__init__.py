"""Calibration: the paper's Table I parameters, and (later) reduced-form and structural estimation."""

from calibration.table1 import TABLE_I

__all__ = ["TABLE_I"]
