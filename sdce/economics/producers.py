"""Producers' provenance choice (docs/model.md §3)."""

from __future__ import annotations

from sdce.xp import array_namespace


def unit_cost(phi, cost_synthetic: float, cost_human: float, cost_quadratic: float):
    """c(phi) = c_S + c_H phi + (c_2/2) phi²."""
    return cost_synthetic + cost_human * phi + 0.5 * cost_quadratic * phi**2


def provenance_best_response(marginal_revenue, nu, phi_bar, cost_human: float, cost_quadratic: float):
    """argmax over [0, phi_bar] of (r + nu) phi - c(phi): (r + nu - c_H)/c_2 projected on [0, phi_bar]."""
    xp = array_namespace(marginal_revenue, nu, phi_bar)
    return xp.clip((marginal_revenue + nu - cost_human) / cost_quadratic, 0.0, phi_bar)


def partial_adjustment(phi, target, rate: float):
    """phi_t = phi_{t-1} + theta_phi (phi* - phi_{t-1})."""
    return phi + rate * (target - phi)


def producer_surplus(received, phi, nu, capacity, cost_synthetic: float, cost_human: float, cost_quadratic: float):
    """Per producer: payments - h̄ c(phi) + h̄ nu phi (intrinsic value of creating)."""
    return received + capacity * (nu * phi - unit_cost(phi, cost_synthetic, cost_human, cost_quadratic))
