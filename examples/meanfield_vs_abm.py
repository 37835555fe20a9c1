"""The ABM beside its N -> infinity limit: one regime, one seed, rho_t and mean Q_t at two sizes and in the limit.

    python examples/meanfield_vs_abm.py --regime shapley --producers 256,4096 --generations 10
"""

from __future__ import annotations

import argparse

from meanfield.equilibrium import solve_equilibrium
from meanfield.solve import solve_meanfield
from sdce.config import make_config
from sdce_abm.model import SDCEModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--regime", default="shapley")
    parser.add_argument("--producers", default="256,4096")
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    cfg = make_config(regime=args.regime, generations=args.generations)
    limit = solve_meanfield(cfg)  # deterministic, milliseconds after compilation
    rows = {"mean field": (limit["rho"], limit["quality"])}
    for n in (int(v) for v in args.producers.split(",")):
        model = SDCEModel(config=cfg.replace(n_producers=n), seed=args.seed)
        model.run_model()
        frame = model.datacollector.get_model_vars_dataframe()
        rows[f"ABM N={n}"] = (frame["rho"].to_numpy(), frame["quality"].to_numpy())
    for name, (rho, quality) in rows.items():
        print(f"{name:>14}  rho_t: {' '.join(f'{r:.3f}' for r in rho)}")
        print(f"{'':>14}  Q_t:   {' '.join(f'{q:.3f}' for q in quality)}")
    eq = solve_equilibrium(cfg, starts=4)
    print(f"SDCE: rho* = {eq.rho_star:.3f}, Q* = {eq.quality_star:.3f}, s* = {eq.s_star:.4f}, "
          f"unique across 4 starts: {eq.unique}")


if __name__ == "__main__":
    main()
