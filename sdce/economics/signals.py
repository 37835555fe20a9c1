"""What trainers observe of provenance (MODEL.md §4)."""

from __future__ import annotations

from sdce.xp import array_namespace


def detectability(psi0: float, watermark):
    """psi(w) = 1 - (1 - psi_0) exp(-w)."""
    xp = array_namespace(watermark)
    return 1.0 - (1.0 - psi0) * xp.exp(-watermark)


def signal_variance(sigma0: float, psi):
    """Var of the signal noise: sigma_0² (1 - psi)/psi (zero under full detectability psi = 1)."""
    return sigma0**2 * (1.0 - psi) / psi


def perceived_provenance(signals, noise_variance):
    """Trainers' estimate of phi from signals phi_hat = phi + e (one column per trainer).

    Empirical Bayes: prior mean and variance of phi from the signals' own cross-section (var phi = var phi_hat -
    noise), posterior mean mu + w (phi_hat - mu) with reliability w = var phi / var phi_hat, and the estimate
    projected on the support [0, 1] of phi. Returns the estimate and w.
    """
    xp = array_namespace(signals)
    mu = xp.mean(signals, axis=0)
    total = xp.var(signals, axis=0)
    reliability = xp.where(total > 0, xp.clip(total - noise_variance, 0.0, None) / xp.where(total > 0, total, 1.0),
                           1.0)
    return xp.clip(mu + reliability * (signals - mu), 0.0, 1.0), reliability
