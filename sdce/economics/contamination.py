"""Market contamination, eq. (1)."""

from __future__ import annotations

from sdce.xp import array_namespace


def contamination_ratio(volumes, phi):
    """rho = 1 - Σ_i h_i phi_i / Σ_i h_i over the volumes actually used (eq. 1); 0 when nothing is used."""
    xp = array_namespace(volumes, phi)
    total = xp.sum(volumes)
    return xp.where(total > 0, 1.0 - xp.sum(volumes * phi) / xp.where(total > 0, total, 1.0), 0.0)
