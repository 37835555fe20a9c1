"""The calibratable parameters (docs/model.md §12, "Parameters and transforms"): the continuum's traced
`meanfield.market.Parameters`, their admissible ranges from the configuration's own bounds, and the smooth maps
between those ranges and the real line on which the optimiser and the sampler move.

A range (lo, hi) with both ends finite is reached by lo + (hi - lo) sigmoid(u); a range bounded below only by
lo + exp(u). Both are smooth and one-to-one onto the open range, so a fit never leaves the admissible set and never
clamps.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import annotated_types
import jax.numpy as jnp
import numpy as np

from meanfield.market import PARAMETERS
from sdce.config import SDCEConfig
from sdce.errors import ConfigError

DEFAULT_PARAMS = ("temperature", "kappa_q", "cost_human", "nu_mean")


class Bounds(NamedTuple):
    """The admissible range of a parameter: lo < value < hi (hi = inf: bounded below only)."""

    lo: float
    hi: float


def parameter_bounds(name: str) -> Bounds:
    """The range the configuration admits for `name`, from its field's constraints (ge/gt, le/lt)."""
    lo, hi = -math.inf, math.inf
    for rule in SDCEConfig.model_fields[name].metadata:
        if isinstance(rule, annotated_types.Ge | annotated_types.Gt):
            lo = float(getattr(rule, "ge", getattr(rule, "gt", None)))
        if isinstance(rule, annotated_types.Le | annotated_types.Lt):
            hi = float(getattr(rule, "le", getattr(rule, "lt", None)))
    if not math.isfinite(lo):
        raise ConfigError(f"parameter {name!r} has no lower bound in the configuration, so no transform")
    return Bounds(lo, hi)


def parse_params(names: str | Sequence[str]) -> tuple[str, ...]:
    """The parameters to calibrate, from `a,b,c` or a sequence: each calibratable, none twice, at least one."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = tuple(names)
    if not names or any(not n for n in names):
        raise ConfigError(f"params: a comma-separated list of parameters, from {', '.join(PARAMETERS)} "
                          f"(got {','.join(names)!r})")
    for name in names:
        if name not in PARAMETERS:
            kind = "is not calibratable" if name in SDCEConfig.model_fields else "is not a parameter"
            raise ConfigError(f"params: {name!r} {kind}; calibratable: {', '.join(PARAMETERS)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"params: {', '.join(twice)} named twice")
    return names


def to_natural(u, names: Sequence[str]):
    """The parameters (P,) on their admissible ranges from unconstrained u (P,) (JAX)."""
    values = []
    for k, name in enumerate(names):
        lo, hi = parameter_bounds(name)
        values.append(lo + (hi - lo) * jnp.reciprocal(1 + jnp.exp(-u[k])) if math.isfinite(hi) else lo + jnp.exp(u[k]))
    return jnp.stack(values)


def to_unconstrained(x, names: Sequence[str]) -> np.ndarray:
    """The inverse of `to_natural` (NumPy); ConfigError for a value outside the open admissible range."""
    u = []
    for value, name in zip(np.asarray(x, float), names):
        lo, hi = parameter_bounds(name)
        if not lo < value < hi:
            raise ConfigError(f"{name} = {value}: a start or a true value must lie inside ({lo}, {hi}), where the "
                              f"transform is one-to-one")
        u.append(math.log((value - lo) / (hi - value)) if math.isfinite(hi) else math.log(value - lo))
    return np.array(u)


def config_values(cfg: SDCEConfig, names: Sequence[str]) -> np.ndarray:
    """The values of `names` in `cfg` (P,)."""
    return np.array([float(getattr(cfg, n)) for n in names])
