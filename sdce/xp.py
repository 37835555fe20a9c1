"""Array-namespace dispatch, so each formula is written once and runs on NumPy (ABM) and JAX (mean-field)."""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np


def array_namespace(*arrays: object) -> ModuleType:
    """`jax.numpy` if any argument is a JAX array (or tracer), else `numpy`."""
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(a, jax.Array) for a in arrays):
        import jax.numpy as jnp

        return jnp
    return np


def log_ndtr(xp: ModuleType, x):
    """log Φ(x), the log of the standard normal CDF, in the namespace `xp`."""
    if xp is np:
        from scipy.special import log_ndtr as f
    else:
        from jax.scipy.special import log_ndtr as f
    return f(x)


def logsumexp(xp: ModuleType, x, axis: int):
    """log Σ exp(x) along `axis`, in the namespace `xp`."""
    if xp is np:
        from scipy.special import logsumexp as f
    else:
        from jax.scipy.special import logsumexp as f
    return f(x, axis=axis)
