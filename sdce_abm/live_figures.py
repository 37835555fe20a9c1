"""The figures of the interactive page (`sdce_abm.app`), drawn from a running `SDCEModel` at its current generation.

Matplotlib `Figure` objects only (no pyplot): the server draws them from worker threads. Each takes the model and,
where it has a time axis, an optional mean-field trajectory (`meanfield.solve.solve_meanfield`) drawn dashed.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sdce.dataworld.mixture import Mixture, sample
from sdce.figures import draw_w2_floor, figure_legend
from sdce_abm.model import SDCEModel
from sdce_abm.output import trajectory

SIZE = (5.4, 3.7)  # inches: one half-width tile of Mesa's grid at the page's dpi
SCATTER_SAMPLES = 400
WELFARE_BARS = (("W_prod", "W_prod", 1), ("W_cons", "W_cons", 1), ("L_coll", "−L_coll", -1),
                ("L_info", "−L_info", -1), ("policy_cost", "−policy", -1), ("W", "W", 1),
                ("W_realized", "W realised", 1))


def _figure(columns: int, **margins: float) -> tuple[Figure, np.ndarray]:
    """A tile with fixed margins (matplotlib's layout engines would double the drawing time of a generation)."""
    fig = Figure(figsize=SIZE)
    fig.subplots_adjust(**{"left": 0.11, "right": 0.97, "bottom": 0.14, "top": 0.9, "wspace": 0.35, **margins})
    return fig, np.atleast_1d(fig.subplots(1, columns))


def _time_axis(ax, model: SDCEModel) -> None:
    """Generations 0..T on every time axis, so a run fills the panel as it plays."""
    ax.set_xlim(-0.3, model.config.generations + 0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")


def _limit_line(ax, limit: dict | None, key: str, upto: int, color: str = "k", label: str = "mean-field") -> None:
    """The mean-field trajectory up to the ABM's generation, dashed on top."""
    if limit is not None:
        ax.plot(np.arange(upto + 1), limit[key][:upto + 1], "--", color=color, lw=1.2, zorder=3, label=label)


def _legend(fig: Figure, ncols: int = 3) -> None:
    """The tile's one legend, in its bottom margin (the tiles keep fixed margins: `_figure`)."""
    figure_legend(fig, ncols=ncols, loc="lower center", fontsize=7, frameon=False)


def contamination_quality_figure(model: SDCEModel, limit: dict | None = None) -> Figure:
    """ρ_t (eq. 1) and mean Q_t with the band over trainers (eq. 2 with the collapse channel)."""
    frame = trajectory(model)
    gen, t = frame.index.to_numpy(), model.steps
    fig, (ax_rho, ax_q) = _figure(2, bottom=0.3)
    ax_rho.plot(gen, frame["rho"], "o-", color="tab:red", ms=3, label="ABM")
    _limit_line(ax_rho, limit, "rho", t)
    ax_rho.set(title=r"contamination $\rho_t$", ylabel=r"$\rho_t$ (synthetic share)", ylim=(0, 1))
    per_trainer = frame.filter(like="quality_j")
    ax_q.fill_between(gen, per_trainer.min(axis=1), per_trainer.max(axis=1), color="tab:blue", alpha=0.25,
                      label="trainers (min-max)")
    ax_q.plot(gen, frame["quality"], "o-", color="tab:blue", ms=3, label="mean")
    _limit_line(ax_q, limit, "quality", t)
    ax_q.set(title=r"quality $Q_t$", ylabel=r"$Q_t$ (quality index)", ylim=(0, None))
    for ax in (ax_rho, ax_q):
        _time_axis(ax, model)
    _legend(fig, ncols=4)
    return fig


def price_drift_figure(model: SDCEModel, limit: dict | None = None) -> Figure:
    """The mean price paid per unit used, and the public model's drift from p: W2 (probe) and KL(q̄_t‖p)."""
    frame = trajectory(model)
    gen, t = frame.index.to_numpy(), model.steps
    fig, (ax_price, ax_w2) = _figure(2, left=0.12, right=0.87, wspace=0.55, bottom=0.34)
    ax_price.plot(gen, frame["price"], "o-", color="tab:green", ms=3, label="ABM price")
    _limit_line(ax_price, limit, "price", t)
    ax_price.set(title="mean price per unit used", ylabel="price per unit")
    ax_w2.plot(gen, frame["w2"], "o-", color="tab:purple", ms=3, label=r"$W_2$ probe")
    draw_w2_floor(ax_w2, [model.w2_floor])
    _limit_line(ax_w2, limit, "w2", t)
    ax_kl = ax_w2.twinx()
    ax_kl.plot(gen, frame["kl"], "s-", color="tab:orange", ms=3, label=r"KL$(\bar q_t\|p)$")
    _limit_line(ax_kl, limit, "kl", t, color="tab:brown", label="mean-field KL")
    ax_w2.set(title=r"drift of $\bar q_t$ from $p$", ylim=(0, None))
    for ax in (ax_price, ax_w2):
        _time_axis(ax, model)
    ax_w2.set_ylabel(r"$W_2$ (units of $x$)", color="tab:purple")
    ax_kl.set_ylabel("KL (nats)", color="tab:orange")
    ax_kl.set_ylim(0, None)
    _legend(fig)
    return fig


def provenance_figure(model: SDCEModel) -> Figure:
    """Histogram of producers' provenance φ_i now, beside generation 0."""
    phi = model.provenance_path()
    fig, (ax,) = _figure(1, bottom=0.26)
    bins = np.linspace(0, 1, 26)
    ax.hist(phi.iloc[0], bins=bins, alpha=0.45, color="tab:grey", label="generation 0")
    ax.hist(phi.iloc[-1], bins=bins, alpha=0.6, color="tab:cyan", label=f"generation {model.steps}")
    ax.axvline(float(np.mean(phi.iloc[-1])), color="tab:cyan", ls="--", lw=1, label="mean now")
    ax.set(title=r"producer provenance $\phi_i$ (human share)", xlabel=r"$\phi_i$", ylabel="producers")
    _legend(fig)
    return fig


def _plane(q: Mixture) -> Mixture:
    """The marginal of a Gaussian mixture on its first two coordinates."""
    return Mixture(q.weights, q.means[:, :2], q.covs[:, :2, :2])


def public_model_figure(model: SDCEModel) -> Figure:
    """Samples of the public model q̄_t over the contours of the human distribution p (first two coordinates;
    a density beside a histogram when d = 1). The draws use their own generator, so the model's stream is
    untouched."""
    fig, (ax,) = _figure(1)
    t = model.steps
    if model.public_model is None:
        ax.text(0.5, 0.5, "no sample-space model\n(technology = retrain)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    rng = np.random.default_rng([model.seed or 0, t])
    x = sample(model.public_model, SCATTER_SAMPLES, rng)
    p = model.p
    spread = np.sqrt(np.max(np.diagonal(p.covs, axis1=1, axis2=2)))
    if p.dim == 1:
        lo, hi = min(p.means.min() - 4 * spread, x.min()), max(p.means.max() + 4 * spread, x.max())
        grid = np.linspace(lo, hi, 300)[:, None]
        ax.hist(x[:, 0], bins=40, density=True, alpha=0.5, color="tab:red", label=rf"$\bar q_{{{t}}}$ samples")
        ax.plot(grid[:, 0], np.exp(p.log_density(grid)), color="k", label="p")
        ax.set(title=rf"public model $\bar q_{{{t}}}$ against $p$", xlabel="$x$", ylabel="density")
        ax.legend(fontsize=7)
        return fig
    p2 = _plane(p)
    lo = np.minimum(p2.means.min(axis=0) - 4 * spread, x[:, :2].min(axis=0))
    hi = np.maximum(p2.means.max(axis=0) + 4 * spread, x[:, :2].max(axis=0))
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
    density = np.exp(p2.log_density(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    ax.contour(gx, gy, density, levels=6, cmap="Greys", linewidths=1)
    ax.scatter(x[:, 0], x[:, 1], s=5, alpha=0.45, color="tab:red", label=rf"$\bar q_{{{t}}}$: {len(x)} samples")
    ax.plot(*_plane(model.public_model).moments()[0], "x", color="darkred", ms=9, mew=2, label=r"mean of $\bar q_t$")
    ax.plot(*p2.moments()[0], "+", color="k", ms=10, mew=2, label="mean of p (contours)")
    ax.set(title=rf"public model $\bar q_{{{t}}}$ over the contours of $p$", xlabel="$x_1$", ylabel="$x_2$",
           aspect="equal")
    ax.legend(fontsize=7, loc="upper right")
    return fig


def welfare_figure(model: SDCEModel) -> Figure:
    """docs/model.md §8 at the current generation: W = W_prod + W_cons − L_coll − L_info − policy cost, beside realised
    welfare (true collapse factor); the gap is Theorem 2's residual."""
    fig, (ax,) = _figure(1, bottom=0.17)
    values = [sign * model.welfare[key] for key, _, sign in WELFARE_BARS]
    colors = ["tab:green" if v >= 0 else "tab:red" for v in values[:5]] + ["tab:blue", "tab:grey"]
    bars = ax.bar([label for _, label, _ in WELFARE_BARS], values, color=colors)
    ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(title=f"welfare, generation {model.steps} (residual {model.welfare['residual']:+.3f})",
           xlabel="component (docs/model.md §8)", ylabel=r"per unit of $V$")
    ax.tick_params(axis="x", labelsize=7, rotation=20)
    return fig
