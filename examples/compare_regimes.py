"""Run two regimes side by side on the same seed and save a comparison figure.

    python examples/compare_regimes.py                      # Table I scale (about 5 s after start-up)
    python examples/compare_regimes.py --producers 128 --out /tmp/cmp

Copy this to start your own experiment: build `SDCEModel` with any `SDCEConfig` field as a keyword, step it, and
read the trajectory from its DataCollector.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sdce_abm.model import SDCEModel
from sdce_abm.output import summary
from sdce_abm.plots import plot_regime_comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", default="unregulated,shapley", help="two or more regimes, comma-separated")
    parser.add_argument("--producers", type=int, default=1024)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    args = parser.parse_args()

    results = {}
    for regime in args.regimes.split(","):
        model = SDCEModel(seed=args.seed, regime=regime, n_producers=args.producers, generations=args.generations)
        model.run_model()
        run = results[regime] = summary(model)
        print(f"{regime:>12}: rho_T = {run.rho[-1]:.3f}, Q_T = {run.quality[-1]:.3f}, W_T = {run.welfare['W']:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    plot_regime_comparison(results, args.out / "comparison.png")
    print(f"figure: {args.out / 'comparison.png'}")


if __name__ == "__main__":
    main()
