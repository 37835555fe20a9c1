"""Theorem 4: self-reported provenance is not incentive compatible (the direct mechanism of its proof).

Producer i privately knows its provenance phi_i and reports phi_hat_i. The report-based rule pays what eq. (4)
would pay if the report were true: every trainer uses the unit (b_ij = h̄, as under `shapley`) and pays its
leave-one-out contribution P_Q kappa_j (V/M) [Q_j(H_-i + h̄ phi_hat, S_-i + h̄ (1 - phi_hat)) - Q_j(H_-i, S_-i)] with
eq. (2)'s Q_j, the other producers reporting truthfully (the IC check of the truthful profile). Quality itself is
made by the true phi_i, but the payment does not see it. The producer's payoff is `producer_surplus`: the payment
plus h̄ (nu phi - c(phi)); the cost and the intrinsic value depend on the true phi only, so the gain from a
misreport, max_r T(r) - T(phi), is the same for every motivation nu and ability phi_bar >= phi.

The contrast is eq. (4) on realised quality, the rule of docs/model.md §6: there the report does not enter the payment,
so the gain from misreporting is zero by construction, and the question is whether the payment rises with the true
phi (whether the rule rewards provenance without observing it). Truth-telling under the report-based rule earns
exactly that payment: the two rules differ only off the truth.

The market (others' provenance) is what a report-only rule leaves: true provenance earns nothing, so each producer
keeps the share its intrinsic motivation sustains, phi = clip((nu - c_H)/c_2, 0, phi_bar) (docs/model.md §3 with r = 0),
for N - 1 producers drawn from the configured population; with `fixed_rho` set, every other unit is
(1 - fixed_rho) human instead. rho (eq. 1), gamma(rho), delta(rho) and the collapse factor exp(-kappa_Q D*(rho)),
D* the stationary fidelity of the Gaussian chain at rho, are held at the market's values, as in `shapley_payments`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic, write_text_atomic
from sdce.config import SDCEConfig
from sdce.economics.producers import producer_surplus, provenance_best_response
from sdce.economics.technology import collapse_factor, elasticities, productivity, quality
from sdce.errors import ConfigError
from sdce.figures import figure_legend
from sdce.population import draw_producer_types, trainer_primitives
from sdce.strict_json import dumps

GAIN_TOL = 1e-12  # a gain above this (money per producer) counts as positive
MOTIVATION_QUANTILES = (0.1, 0.5, 0.9)  # of the nu law: the motivations reported beside each type
SWEEP_RHOS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))  # market contaminations of the sweep
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
REPORT_TOL = 1e-9  # width of the final golden-section bracket


class ReportMarket(NamedTuple):
    """The market one producer reports into: the others' truthful aggregates and the trainers (eq. 2, eq. 4)."""

    rho: float
    volume: float  # V = N h̄
    capacity: float  # h̄
    others_h: float  # H_-i = Σ_{k != i} h̄ phi_k (every trainer uses all content)
    others_s: float  # S_-i = Σ_{k != i} h̄ (1 - phi_k)
    productivity: np.ndarray  # Z_j, (M,)
    money: np.ndarray  # P_Q kappa_j V / M, (M,)
    gamma: float
    delta: float
    fidelity: float  # D*(rho)
    collapse: float  # exp(-kappa_Q D*)


def _check(cfg: SDCEConfig) -> None:
    if cfg.technology != "closed_form" or cfg.family != "gaussian" or cfg.human_dist != "gaussian":
        raise ConfigError("theorem4: the collapse factor uses the stationary fidelity of the Gaussian chain; it needs "
                          f"technology='closed_form', family='gaussian', human_dist='gaussian' (got "
                          f"{cfg.technology!r}, {cfg.family!r}, {cfg.human_dist!r})")


def report_market(cfg: SDCEConfig, others_phi: np.ndarray) -> ReportMarket:
    """The market of N - 1 other producers with provenance `others_phi` and the configured trainers."""
    from meanfield.equilibrium import stationary_fidelity

    h = cfg.capacity
    volume = cfg.n_producers * h
    rho = float(1.0 - others_phi.mean())  # eq. (1) with b_ij = h̄; producer i moves it by O(1/N), held fixed
    trainers = trainer_primitives(cfg)
    gamma, delta = elasticities(rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
    fidelity = float(stationary_fidelity(rho, cfg.temperature, cfg.learning_rule, cfg.dim))
    return ReportMarket(
        rho=rho, volume=volume, capacity=h, others_h=float(h * others_phi.sum()),
        others_s=float(h * (1.0 - others_phi).sum()),
        productivity=productivity(cfg.tfp, trainers.labor, trainers.compute, cfg.alpha, cfg.beta_k),
        money=cfg.output_price * trainers.revenue_weight * volume / cfg.n_trainers,
        gamma=float(gamma), delta=float(delta), fidelity=fidelity,
        collapse=float(collapse_factor(np.asarray(fidelity), cfg.kappa_q)))


def default_market(cfg: SDCEConfig, seed: int) -> ReportMarket:
    """Others at the provenance a report-only rule sustains (intrinsic motivation alone), or at 1 - fixed_rho."""
    if cfg.fixed_rho is not None:
        return report_market(cfg, np.full(cfg.n_producers - 1, 1.0 - cfg.fixed_rho))
    types = draw_producer_types(cfg, np.random.default_rng(seed))
    phi = provenance_best_response(0.0, types.nu, types.phi_bar, cfg.cost_human, cfg.cost_quadratic)
    return report_market(cfg, phi[1:])


def report_payment(report, market: ReportMarket):
    """T(phi_hat): eq. (4) summed over trainers, with producer i's unit entering H and S as its report says.

    T(phi) on the true phi is the Shapley payment on realised quality (`payments.shapley_payments`, b_ij = h̄).
    """
    r = np.asarray(report, float)[..., None]
    m, v = market, market.volume
    full = quality(m.productivity, (m.others_h + m.capacity * r) / v, (m.others_s + m.capacity * (1.0 - r)) / v,
                   m.gamma, m.delta, m.collapse)
    loo = quality(m.productivity, m.others_h / v, m.others_s / v, m.gamma, m.delta, m.collapse)
    return (m.money * (full - loo)).sum(-1)


def best_report(market: ReportMarket) -> float:
    """argmax of T over [0, 1]. T is concave in the report (eq. 2 is concave for gamma + delta <= 1 and the report
    enters H and S affinely), so golden-section search finds the maximum to REPORT_TOL; the endpoints are compared
    too, so a corner maximum is returned exactly. (Narrower brackets would compare payments that differ by less
    than their rounding error.)"""
    lo, hi = 0.0, 1.0
    a, b = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    fa, fb = report_payment(a, market), report_payment(b, market)
    while hi - lo > REPORT_TOL:
        if fa >= fb:
            hi, b, fb = b, a, fa
            a = hi - GOLDEN * (hi - lo)
            fa = report_payment(a, market)
        else:
            lo, a, fa = a, b, fb
            b = lo + GOLDEN * (hi - lo)
            fb = report_payment(b, market)
    candidates = np.array([0.0, 0.5 * (lo + hi), 1.0])
    return float(candidates[np.argmax(report_payment(candidates, market))])


def misreport_table(cfg: SDCEConfig, market: ReportMarket, phi: np.ndarray, nu: np.ndarray) -> dict[str, np.ndarray]:
    """Per type (phi, nu): truthful payment and payoff, the best report, the misreport payment and payoff, gain."""
    costs = (cfg.cost_synthetic, cfg.cost_human, cfg.cost_quadratic)
    report = best_report(market)
    truthful = report_payment(phi, market)
    lie = np.full_like(phi, float(report_payment(report, market)))
    return {"phi": phi, "nu": nu, "truthful_payment": truthful,
            "truthful_payoff": producer_surplus(truthful, phi, nu, market.capacity, *costs),
            "best_report": np.full_like(phi, report), "misreport_payment": lie,
            "misreport_payoff": producer_surplus(lie, phi, nu, market.capacity, *costs), "gain": lie - truthful}


def rho_sweep(cfg: SDCEConfig, rhos=SWEEP_RHOS) -> dict:
    """Best report and the gains of types 0 and 1 in markets at fixed rho, and the rho where T(1) - T(0) changes
    sign (bisection): below it the report-based rule pays for claiming synthetic content."""
    n = cfg.n_producers - 1

    def market(rho):
        return report_market(cfg, np.full(n, 1.0 - rho))

    rows = {"rho": [], "best_report": [], "gain_at_0": [], "gain_at_1": [], "payment_slope": []}
    for rho in rhos:
        m = market(float(rho))
        r = best_report(m)
        t0, t1, tr = (float(report_payment(x, m)) for x in (0.0, 1.0, r))
        for key, value in zip(rows, (float(rho), r, tr - t0, tr - t1, t1 - t0)):
            rows[key].append(value)
    slope = rows["payment_slope"]
    cross = next((i for i in range(len(slope) - 1) if slope[i] * slope[i + 1] < 0), None)
    threshold = None
    if cross is not None:
        lo, hi = rows["rho"][cross], rows["rho"][cross + 1]
        sign_lo = np.sign(slope[cross])
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            m = market(mid)
            if np.sign(float(report_payment(1.0, m) - report_payment(0.0, m))) == sign_lo:
                lo = mid
            else:
                hi = mid
        threshold = 0.5 * (lo + hi)
    return {**rows, "sign_change_rho": threshold}


def theorem4_result(cfg: SDCEConfig, grid: int = 101, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    """The by-type table (grid of `grid` types phi in [0, 1] times the motivation quantiles) and its summary."""
    if grid < 2:
        raise ConfigError(f"theorem4: grid must be an integer >= 2, got {grid}")
    if seed < 0:
        raise ConfigError(f"theorem4: seed must be >= 0, got {seed}")
    _check(cfg)
    market = default_market(cfg, seed)
    phi = np.linspace(0.0, 1.0, grid)
    nus = [-cfg.nu_mean * math.log1p(-q) for q in MOTIVATION_QUANTILES]
    parts = [misreport_table(cfg, market, phi, np.full(grid, nu)) for nu in nus]
    table = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    median = parts[len(parts) // 2]
    gain, payment, report = median["gain"], median["truthful_payment"], median["best_report"]
    positive = gain > GAIN_TOL
    steps = np.diff(payment)
    summary = {
        "market": {"rho": market.rho, "source": "fixed_rho" if cfg.fixed_rho is not None else "intrinsic motivation",
                   "gamma": market.gamma, "delta": market.delta, "fidelity": market.fidelity,
                   "collapse_factor": market.collapse, "n_producers": cfg.n_producers,
                   "n_trainers": cfg.n_trainers},
        "best_report": float(report[0]),
        "share_positive_gain": float(positive.mean()),
        "zero_gain_types": phi[~positive].tolist(),
        "max_gain": float(gain.max()), "max_gain_at": float(phi[np.argmax(gain)]),
        "mean_gain": float(gain.mean()),
        "mean_over_report": float(np.mean(report - phi)),
        "min_gain": float(gain.min()),
        "gain_spread_across_motivations": float(np.ptp([p["gain"] for p in parts], axis=0).max()),
        "shapley": {"payment_at_0": float(payment[0]), "payment_at_1": float(payment[-1]),
                    "increasing": bool(np.all(steps > 0)), "decreasing": bool(np.all(steps < 0))},
        "by_type": {k: median[k][np.round(np.linspace(0, grid - 1, min(grid, 5))).astype(int)].tolist()
                    for k in ("phi", "truthful_payment", "best_report", "misreport_payment", "gain")},
        "by_rho": rho_sweep(cfg),
        "motivations": nus, "grid": grid, "seed": seed,
    }
    return table, summary


def plot_theorem4(table: dict[str, np.ndarray], summary: dict, path: Path) -> Path:
    """Gain and Shapley payment by type; best report against the true type; gains of types 0 and 1 by rho."""
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    ax_gain, ax_report, ax_rho = fig.subplots(1, 3)
    nu = summary["motivations"][len(summary["motivations"]) // 2]
    one = table["nu"] == nu
    phi = table["phi"][one]
    ax_gain.plot(phi, table["gain"][one], label="gain from the best misreport (report-based rule)")
    ax_gain.plot(phi, table["truthful_payment"][one], "--", label="payment under eq. (4) on realised quality")
    ax_gain.axhline(0.0, color="grey", lw=0.8)
    ax_gain.set(xlabel=r"true provenance $\phi$", ylabel="money per producer",
                title=rf"$\rho$ = {summary['market']['rho']:.3f}; gain > 0 for "
                      f"{100 * summary['share_positive_gain']:.0f}% of types")
    ax_report.plot([0, 1], [0, 1], color="grey", lw=0.8, label="45° (truth)")
    ax_report.plot(phi, table["best_report"][one], "o", ms=3, label="best report")
    ax_report.set(xlabel=r"true provenance $\phi$", ylabel=r"reported $\hat\phi$", xlim=(0, 1), ylim=(-0.03, 1.03),
                  title="best report by type")
    sweep = summary["by_rho"]
    ax_rho.plot(sweep["rho"], sweep["gain_at_0"], "o-", label=r"type $\phi$ = 0")
    ax_rho.plot(sweep["rho"], sweep["gain_at_1"], "s-", label=r"type $\phi$ = 1")
    if sweep["sign_change_rho"] is not None:
        ax_rho.axvline(sweep["sign_change_rho"], color="grey", ls=":",
                       label=rf"T(1) = T(0) at $\rho$ = {sweep['sign_change_rho']:.3f}")
    ax_rho.set(xlabel=r"market contamination $\rho$", ylabel="gain from the best misreport (money per producer)",
               title=r"by market $\rho$")
    figure_legend(fig, ncols=4)
    fig.suptitle(r"Theorem 4: reports paid as if true (eq. 4 on $\hat\phi$); one market (seed "
                 f"{summary['seed']}), " + rf"types of the median motivation $\nu$ = {nu:.3g}")
    save_figure_atomic(fig, path, 120)
    return path


def run_theorem4(cfg: SDCEConfig, out: Path, grid: int = 101, seed: int = 0) -> dict:
    """Write DIR/theorem4.csv (by type), DIR/theorem4.json (summary) and DIR/theorem4.png; return the summary."""
    import pandas as pd

    table, summary = theorem4_result(cfg, grid, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "theorem4.csv", pd.DataFrame(table).to_csv(index=False))
    write_text_atomic(out / "theorem4.json", dumps(summary, indent=1))
    plot_theorem4(table, summary, out / "theorem4.png")
    return summary
