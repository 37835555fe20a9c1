"""Closed-form policy levels of the paper (MODEL.md §7)."""

from __future__ import annotations


def optimal_subsidy(kl, collapse_weight: float):
    """s* = KL(q_rho*‖p) / (2 kappa), eq. (10)."""
    return kl / (2.0 * collapse_weight)


def optimal_watermark(kl, collapse_weight: float, psi):
    """w* = (1 - psi) KL(q_rho*‖p) / (2 kappa psi), eq. (12)."""
    return (1.0 - psi) * kl / (2.0 * collapse_weight * psi)
