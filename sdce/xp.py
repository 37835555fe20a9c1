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
