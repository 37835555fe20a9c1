"""The contaminated Cobb-Douglas technology, eq. (2), with the collapse channel of docs/model.md §4."""

from __future__ import annotations

from sdce.xp import array_namespace


def elasticities(rho, gamma0: float, gamma1: float, delta0: float):
    """gamma(rho) = gamma0 + gamma1 rho and delta(rho) = delta0 (1 - rho) (docs/model.md §4 defaults of eq. 2)."""
    return gamma0 + gamma1 * rho, delta0 * (1.0 - rho)


def productivity(tfp: float, labor, compute, alpha: float, beta_k: float):
    """Z_j = A L_j^alpha K_j^beta_K, the part of eq. (2) that does not depend on data."""
    return tfp * labor**alpha * compute**beta_k


def collapse_factor(fidelity, kappa_q: float):
    """exp(-kappa_Q D): how a drifted model (D = KL(q‖p)) loses quality (docs/model.md §4)."""
    xp = array_namespace(fidelity)
    return xp.exp(-kappa_q * fidelity)


def quality(z, x_h, x_s, gamma, delta, collapse=1.0):
    """Q = Z x_H^gamma x_S^delta · exp(-kappa_Q D), eq. (2) on volume shares times the collapse factor (1: none)."""
    return z * x_h**gamma * x_s**delta * collapse


def provenance_value(revenue, human, synthetic, gamma, delta):
    """dR_j/dphi per unit in trainer j's bundle: turning a synthetic unit into a human one moves R_j by
    R_j (gamma/H_j - delta/S_j) (eq. 2 on the volumes H_j, S_j)."""
    return revenue * (gamma / human - delta / synthetic)


def revenue(output_price: float, kappa_j, q, volume: float, n_trainers: int):
    """R_j = P_Q kappa_j (V/M) Q_j: revenue scales with the content volume per trainer, so each producer's
    marginal contribution stays finite as N grows (docs/model.md §4 leaves the scale open; docs/model.md)."""
    return output_price * kappa_j * (volume / n_trainers) * q
