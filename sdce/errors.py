"""The errors the model raises: bad input (exit 2 at the command line) and numerics that failed (exit 1).

A solver that does not converge raises one of the `NotConverged` errors; it never returns a number.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is out of range, of the wrong type, unknown, or unreadable."""


class NotConverged(RuntimeError):
    """A numerical solve ran but did not reach its tolerance; no number is returned for it."""


class SinkhornNotConverged(NotConverged):
    """The ott-jax Sinkhorn solve did not reach its threshold; no W2 value is returned."""


class DemandNotConverged(NotConverged):
    """Newton's method on the bundle first-order conditions did not converge."""


class MeanFieldDiverged(NotConverged):
    """The continuum trajectory produced non-finite values (e.g. a collapsed model under `wgf` with rho >= tau)."""


class EquilibriumNotConverged(NotConverged):
    """The equilibrium solve ran but did not settle: no number is returned for it."""
