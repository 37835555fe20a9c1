"""Distances between the Gaussian-mixture public models of the two levels (docs/model.md §9, harness).

The ABM's q̄_t and the mean-field q̄_t are mixtures of the M trainers' Gaussians. Their W2 has no closed form, and a
sampled or gridded Sinkhorn estimate has a floor (float32, entropic bias) above the errors of large N. The harness
therefore uses the mixture Wasserstein distance MW2 of Delon & Desolneux (2020, SIAM J. Imaging Sci. 13(2)):

    MW2(a, b)² = min over couplings pi of the component weights of Σ_kl pi_kl W2(N_k, N_l)²,

W2 restricted to couplings that are themselves Gaussian mixtures. It is a metric on mixtures, an upper bound on W2,
and equal to the Bures W2 when both sides are single Gaussians. The inner transport between components is a small
linear program solved exactly (scipy's HiGHS) in float64.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from sdce.dataworld.metrics import w2_gaussian


def mixture_w2(weights_a, means_a, covs_a, weights_b, means_b, covs_b) -> float:
    """MW2 between Σ_k a_k N(m_k, C_k) and Σ_l b_l N(m_l, C_l) (float64, exact inner transport)."""
    wa, wb = np.asarray(weights_a, float), np.asarray(weights_b, float)
    wa, wb = wa / wa.sum(), wb / wb.sum()
    ma, ca = np.asarray(means_a, float), np.asarray(covs_a, float)
    mb, cb = np.asarray(means_b, float), np.asarray(covs_b, float)
    cost = w2_gaussian(ma[:, None], ca[:, None], mb[None], cb[None]) ** 2  # (Ka, Kb)
    ka, kb = cost.shape
    if ka == 1 or kb == 1:
        return float(np.sqrt(max(wa @ cost @ wb, 0.0)))
    rows = np.kron(np.eye(ka), np.ones(kb))
    cols = np.kron(np.ones(ka), np.eye(kb))
    result = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([wa, wb]), bounds=(0, None),
                     method="highs")
    if result.status != 0:
        raise RuntimeError(f"mixture W2: the component transport failed ({result.message})")
    return float(np.sqrt(max(result.fun, 0.0)))
