"""What trainers observe of provenance (docs/model.md §4)."""

from __future__ import annotations

from sdce.xp import array_namespace


def detectability(psi0: float, watermark):
    """psi(w) = 1 - (1 - psi_0) exp(-w)."""
    xp = array_namespace(watermark)
    return 1.0 - (1.0 - psi0) * xp.exp(-watermark)


def signal_variance(sigma0: float, psi):
    """Var of the signal noise: sigma_0² (1 - psi)/psi (zero under full detectability psi = 1)."""
    return sigma0**2 * (1.0 - psi) / psi


def signal_reliability(signal_variance_total, noise_variance):
    """w = var phi / var phĩ, with var phi = var phĩ - noise (empirical Bayes); 1 when the signals do not vary."""
    xp = array_namespace(signal_variance_total)
    total = signal_variance_total
    return xp.where(total > 0, xp.clip(total - noise_variance, 0.0, None) / xp.where(total > 0, total, 1.0), 1.0)


def perceived_provenance(signals, noise_variance):
    """Trainers' estimate of phi from signals phi_hat = phi + e (one column per trainer).

    Empirical Bayes: prior mean mu and reliability w from the signals' own cross-section, posterior mean
    mu + w (phi_hat - mu) projected on the support [0, 1] of phi. Returns the estimate, mu and w (per column).
    """
    xp = array_namespace(signals)
    mu = xp.mean(signals, axis=0)
    reliability = signal_reliability(xp.var(signals, axis=0), noise_variance)
    return xp.clip(mu + reliability * (signals - mu), 0.0, 1.0), mu, reliability


def fisher_information(noise_variance):
    """I = 1 / Var e: Fisher information about phi in one Gaussian signal phi_hat = phi + e (eq. 11)."""
    xp = array_namespace(noise_variance)
    return xp.where(noise_variance > 0, 1.0 / xp.where(noise_variance > 0, noise_variance, 1.0), xp.inf)


def running_mean(previous, count, signal):
    """m_T = m_{T-1} + (phi_hat_T - m_{T-1}) / T, the running-mean provenance estimate after T signals."""
    return previous + (signal - previous) / count
