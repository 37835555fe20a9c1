"""The mean-field (N → ∞) limit in JAX. For now: the Gaussian closed forms of MODEL.md §9(a)."""

from meanfield.gaussian import gaussian_trajectory, mle_moment_map, wgf_map

__all__ = ["gaussian_trajectory", "mle_moment_map", "wgf_map"]
