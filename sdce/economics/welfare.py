"""Welfare of docs/model.md §8 (Theorem 2), per unit of content volume V so that the components are commensurate."""

from __future__ import annotations

from sdce.xp import array_namespace

WELFARE_KEYS = ("W_prod", "W_cons", "L_coll", "L_info", "policy_cost", "W", "W_realized", "residual")
"""The components `welfare_components` returns, in the order runs and trajectories report them."""


def collapse_loss(kl, collapse_weight: float):
    """L_coll = kappa KL(q_rho‖p), eq. (6)."""
    return collapse_weight * kl


def information_loss(rho, lemon_penalty: float):
    """L_info = lambda rho (1 - rho), eq. (7)."""
    return lemon_penalty * rho * (1.0 - rho)


def welfare_components(*, producer_surplus, revenue, revenue_collapse_free, paid_by_trainers, kl, rho,
                       collapse_weight: float, lemon_penalty: float, volume: float, policy_cost=0.0) -> dict:
    """W = W_prod + W_cons - L_coll - L_info - policy costs (eq. 5), beside the realised welfare.

    W_prod: Σ producer surplus. W_cons: Σ trainers' surplus with collapse-free quality. Realised welfare uses the
    actual quality (with exp(-kappa_Q D)); `residual` = realised - W is what Theorem 2 says vanishes.
    """
    xp = array_namespace(producer_surplus, revenue)
    w_prod = xp.sum(producer_surplus) / volume
    w_cons = (xp.sum(revenue_collapse_free) - xp.sum(paid_by_trainers)) / volume
    l_coll = collapse_loss(kl, collapse_weight)
    l_info = information_loss(rho, lemon_penalty)
    w = w_prod + w_cons - l_coll - l_info - policy_cost
    realised = w_prod + (xp.sum(revenue) - xp.sum(paid_by_trainers)) / volume - policy_cost
    return {"W_prod": w_prod, "W_cons": w_cons, "L_coll": l_coll, "L_info": l_info, "policy_cost": policy_cost,
            "W": w, "W_realized": realised, "residual": realised - w}
