"""The market with trained models: trainers' quality comes from character-level language models that they
actually train on the human and synthetic text in their bundles (`technology = "retrain"`, docs/model.md §4, §11).

    python examples/retrain_technology.py                 # N=128, M=4, 6 generations: a few minutes on 2 CPU cores
    python examples/retrain_technology.py --regimes unregulated --generations 3

Each generation every trainer trains a fresh Flax model; its fidelity D_j is its held-out cross-entropy in excess
of a human-data reference, and quality is eq. (2) times exp(-kappa_Q D_j). Compare with the closed-form technology
by dropping `technology="retrain"`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sdce_abm.model import SDCEModel
from sdce_abm.output import summary
from sdce_abm.plots import plot_regime_comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", default="unregulated,shapley")
    parser.add_argument("--producers", type=int, default=128)
    parser.add_argument("--trainers", type=int, default=4)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--domain", default="text", help="text | images | recsys")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=Path("runs/retrain_technology"))
    args = parser.parse_args()

    results = {}
    for regime in args.regimes.split(","):
        model = SDCEModel(seed=args.seed, regime=regime, n_producers=args.producers, n_trainers=args.trainers,
                          generations=args.generations, technology="retrain", retrain_domain=args.domain,
                          retrain_size="tiny", samples_per_unit=4.0)
        print(f"{regime}: reference perplexity of a human-data model = {model.retrainer.reference_perplexity:.3f}")
        while model.running:
            model.step()
            print(f"  generation {model.steps}: rho = {model.rho:.3f}, mean Q = {model.mean_quality:.4f}, "
                  f"mean excess cross-entropy D = {model.kl_public:+.4f} nats")
        results[regime] = summary(model)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_regime_comparison(results, args.out / "comparison.png")
    print(f"figure: {args.out / 'comparison.png'}")


if __name__ == "__main__":
    main()
