"""What trainers pay, from each regime's own terms and never from the settlement's payment matrix (docs/model.md,
"The money ledger").

The ledger compares these outlays with what producers (and, under `intermediary`, the intermediary's operating
cost) receive. Both sides come from different computations, so a settlement that pays producers less (or more)
than trainers were charged shows as a gap. The intermediary's tariff T_j is its own outlay already
(`IntermediaryOutcome.paid`), and open scraping charges nothing.
"""

from __future__ import annotations

from sdce.economics.technology import quality
from sdce.xp import array_namespace


def royalty_outlays(bundles, royalty: float):
    """Statutory (B2): trainer j pays the royalty r times the volume it uses, r Σ_i b_ij (M,)."""
    return royalty * bundles.sum(0)


def posted_price_outlays(prices, bundles):
    """PMIR (eq. 3): trainer j pays the posted prices of the units in its bundle, Σ_i p_i b_ij (M,)."""
    return prices @ bundles


def leave_one_out_outlays(bundles, phi, volume: float, z, gamma, delta, collapse, money_per_quality):
    """Shapley, eq. (4) exactly: trainer j pays N R_j(b_j) − Σ_i R_j(b_j without i), its revenue counted once
    per producer less what it would earn without each (M,). Computed trainer by trainer from the aggregates."""
    xp = array_namespace(bundles, phi)
    n = bundles.shape[0]
    human, synthetic = phi @ bundles, (1 - phi) @ bundles
    full = money_per_quality * quality(z, human / volume, synthetic / volume, gamma, delta, collapse)
    without = [money_per_quality[j] * quality(z[j], xp.clip(human[j] - bundles[:, j] * phi, 0.0, None) / volume,
                                              xp.clip(synthetic[j] - bundles[:, j] * (1 - phi), 0.0, None) / volume,
                                              gamma, delta, collapse[j]).sum()
               for j in range(bundles.shape[1])]
    return n * full - xp.stack(without)


def marginal_product_outlays(revenue, gamma, delta):
    """Shapley as N → ∞: paying every unit its marginal product costs trainer j (gamma + delta) R_j (Euler's
    theorem for the technology (2), homogeneous of degree gamma + delta in (H_j, S_j)) (M,)."""
    return (gamma + delta) * revenue
