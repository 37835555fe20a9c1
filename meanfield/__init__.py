"""The mean-field (N → ∞) limit in JAX (docs/model.md §9): the continuum market (`market`, `solve`), the generative
distribution in closed form (`gaussian`) and on a grid (`grid`, `worlds`), W2 through ott-jax (`transport`), the
SDCE (`equilibrium`), and the ABM-vs-mean-field harness (`harness`)."""

from meanfield.gaussian import gaussian_trajectory, mle_moment_map, wgf_map

__all__ = ["gaussian_trajectory", "mle_moment_map", "wgf_map"]
