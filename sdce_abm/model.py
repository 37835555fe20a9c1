"""The synthetic-data market as a Mesa 3 model: one step is one generation (docs/model.md §3-§8).

Generation t: producers choose provenance from last generation's marginal revenue; the regime sets bundles and
payments; each trainer buys samples (human from p, synthetic from the trainers' tempered models of generation t-1,
mixed by output share) and retrains; quality follows eq. (2) with the collapse channel; contamination follows
eq. (1); the public model q̄_t is the trainers' models mixed by output share. Generation 0 (built in `__init__`)
is fitted to human data only.
"""

from __future__ import annotations

import numbers
import warnings
from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sdce.budget import check_abm
from sdce.config import SDCEConfig, make_config
from sdce.dataworld.metrics import kl_divergence, w2_gaussian, w2_probe_floor, w2_sinkhorn
from sdce.dataworld.mixture import combine, human_distribution, randomized_round, sample, temper
from sdce.economics.contamination import contamination_ratio
from sdce.economics.policy import lump_sum_transfer, policy_cost
from sdce.economics.producers import producer_surplus
from sdce.economics.technology import collapse_factor, elasticities, productivity, quality, revenue
from sdce.economics.welfare import WELFARE_KEYS, welfare_components
from sdce.errors import ConfigError
from sdce.population import draw_producer_types, trainer_primitives
from sdce.regimes import Market, Offer, Settlement, regime_module
from sdce_abm.agents import Producer, ProducerState, Trainer


def _seed_integer(name: str, value: Any) -> int:
    """`value` as a Python int when it is an integer >= 0 (NumPy integers too, not bools), else ConfigError."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{name}: must be an integer >= 0 or None (got {value!r})")
    return int(value)


class SDCEModel(mesa.Model):
    """Producers, trainers and a regime. Keyword parameters are the fields of `SDCEConfig` (NumPy scalars too).

    `SDCEModel(seed=17, regime="shapley", n_producers=256)`, or `SDCEModel(config=cfg, rng=17)`. `seed` and `rng` are
    those of `mesa.Model` (3.3): one or neither; `rng` also takes a `np.random.Generator`, `BitGenerator` or
    `SeedSequence`. All of the model's randomness (NumPy, and the JAX keys of `pmir` and `retrain`) is drawn from
    `self.rng`, so `seed=s` and `rng=s` give the same run. `self.seed` is the integer that reproduces the run (the
    `rng` integer when one was given), None when the stream came from entropy or a generator.
    """

    def __init__(self, config: SDCEConfig | None = None, *, seed: int | None = None, rng: Any = None,
                 **params: Any) -> None:
        cfg = make_config({**(config.model_dump() if config else {}), **params})
        if seed is not None and rng is not None:
            raise ConfigError(f"seed, rng: give one or neither, as mesa.Model (got seed={seed!r}, rng={rng!r})")
        if seed is not None:
            seed = _seed_integer("seed", seed)
        if isinstance(rng, numbers.Integral | np.bool_):
            rng = _seed_integer("rng", rng)
        check_abm(cfg)
        try:
            super().__init__(seed=seed, rng=rng)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"rng: must be an integer >= 0 or a sequence of them, a numpy Generator, BitGenerator "
                              f"or SeedSequence, or None (got {rng!r}: {exc})") from None
        self.config = cfg
        self.seed = rng if isinstance(rng, int) else seed
        self.p = human_distribution(cfg.dim, cfg.human_dist, cfg.human_modes, cfg.human_mode_radius,
                                    cfg.human_mode_scale)
        self.p_probe = sample(self.p, cfg.probe_size, self.rng)
        self.w2_floor = w2_probe_floor(self.p, self.p_probe, self.rng, cfg.sinkhorn_epsilon)

        types = draw_producer_types(cfg, self.rng)
        n = cfg.n_producers
        phi = types.phi_bar.copy() if cfg.fixed_rho is None else np.full(n, 1.0 - cfg.fixed_rho)
        self.producer_state = ProducerState(
            phi_bar=types.phi_bar, nu=types.nu, capacity=np.full(n, cfg.capacity), phi=phi,
            received=np.zeros(n), marginal_revenue=np.zeros(n),
        )
        for i in range(n):
            Producer(self, i)
        trainers = trainer_primitives(cfg)
        for labor, compute, weight in zip(*trainers):
            Trainer(self, labor, compute, weight)
        self.trainers = self.agents_by_type[Trainer]
        self.productivity = productivity(cfg.tfp, trainers.labor, trainers.compute, cfg.alpha, cfg.beta_k)  # Z_j
        self.revenue_weights = trainers.revenue_weight  # kappa_j
        self.volume = float(self.producer_state.capacity.sum())
        self.levers = cfg.levers()
        self.rho = float(contamination_ratio(self.producer_state.capacity, phi))
        self.retrainer = None
        if cfg.technology == "retrain":
            import jax

            from sdce_abm.retrain import RetrainTechnology

            self.retrainer = RetrainTechnology(cfg, self.volume, jax.random.PRNGKey(int(self.rng.integers(2**31))))
        self.public_model = None
        self.pmir = None
        self.perception = None  # statutory trainers' view of provenance this generation (`Perception`)
        self.learning_curves: list[dict[str, float]] = []
        self.numerics = {"skipped_updates": 0, "kept_prices": 0}  # PMIR's guarded numerics, counted (summary.json)
        if cfg.regime == "pmir":
            from sdce.pmir import initial_state, myopic_start

            money = revenue(cfg.output_price, self.revenue_weights, 1.0, self.volume, cfg.n_trainers)
            self.pmir = initial_state(cfg, n, *myopic_start(
                cfg, phi, self.producer_state.capacity, self.volume, self.productivity, money, self.rho))
        self.bundles = np.zeros((n, cfg.n_trainers))
        self.ledger: list[dict[str, float]] = []

        self.datacollector = mesa.DataCollector(
            model_reporters={
                "rho": "rho", "quality": "mean_quality", "price": "mean_price", "provenance": "mean_provenance",
                "kl": "kl_public", "w2": "w2_public", "w2_moments": "w2_moments",
                **{k: lambda m, k=k: m.welfare[k] for k in WELFARE_KEYS},
                **({"intermediary_formed": lambda m: bool(m.settlement.detail.formed)}
                   if cfg.regime == "intermediary" else {}),
            },  # scalars only: per-agent values are agent-type reporters (`provenance_path` reads phi)
            agenttype_reporters={Producer: {"phi": "phi"}, Trainer: {"quality": "quality", "fidelity": "fidelity"}},
        )
        self._generation()
        self.datacollector.collect(self)

    def provenance_path(self) -> pd.Series:
        """Producers' provenance φ_{i,t} by generation t = 0..steps: one array (N,) per generation, in producer order
        (the `Producer` agent-type reporter `phi`; docs/model.md §10)."""
        phi = self.datacollector.get_agenttype_vars_dataframe(Producer)["phi"].unstack("AgentID")
        return pd.Series(list(phi.to_numpy()), index=phi.index.rename("generation"), name="phi")

    # -- one generation ----------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Generation t >= 1."""
        cfg = self.config
        if cfg.fixed_rho is None:
            Producer.choose_provenance(self.producer_state, cfg.cost_human, cfg.cost_quadratic, cfg.adjust_rate)
        self._generation()
        self.datacollector.collect(self)
        if self.steps >= cfg.generations:
            self.running = False

    def _generation(self) -> None:
        cfg, state = self.config, self.producer_state
        z, kappa_j = self.productivity, self.revenue_weights
        money_per_quality = revenue(cfg.output_price, kappa_j, 1.0, self.volume, cfg.n_trainers)
        bundles, demand = self._choose_bundles(z, money_per_quality)
        self.bundles = bundles
        self.rho = float(contamination_ratio(bundles.sum(axis=1), state.phi))

        human_vol = state.phi @ bundles
        synthetic_vol = (1 - state.phi) @ bundles
        self._retrain(human_vol, synthetic_vol)
        fidelity = np.array([t.fidelity for t in self.trainers])
        gamma, delta = elasticities(self.rho, cfg.gamma0, cfg.gamma1, cfg.delta0)
        collapse = collapse_factor(fidelity, cfg.kappa_q)
        q_collapse_free = quality(z, human_vol / self.volume, synthetic_vol / self.volume, gamma, delta)
        q = q_collapse_free * collapse
        for trainer, q_j in zip(self.trainers, q):
            trainer.quality = float(q_j)

        settlement = self.settlement = regime_module(cfg.regime).settle(Market(
            cfg, self.levers, bundles, state.phi, state.capacity, state.nu, state.phi_bar, self.volume, z, collapse,
            gamma, delta, money_per_quality, q, finite=True, demand=demand))
        payments = self.payments = settlement.payments
        fee = float(settlement.fee)  # F V: the intermediary's operating cost, a resource
        to_producer, levy = lump_sum_transfer(self.levers, cfg.n_producers, cfg.n_trainers)
        state.received = payments.sum(axis=1) + to_producer
        paid = payments.sum(axis=0) + levy
        outlay = np.asarray(settlement.outlays, float) + levy
        self.ledger.append({"paid_by_trainers": float(outlay.sum()),
                            "received_by_producers": float(state.received.sum()), "intermediary_fee": fee})
        state.marginal_revenue = settlement.marginal_revenue

        shares = q if q.sum() > 0 else np.ones_like(q)
        if self.retrainer is None:
            self._public_model(shares)
        else:  # a share-weighted mean of D_j: an upper bound on the mixture's excess cross-entropy (convexity)
            self.retrainer.shares = shares / shares.sum()
            self.kl_public = float(shares @ fidelity / shares.sum())
            self.w2_public = self.w2_moments = float("nan")
        surplus = producer_surplus(state.received, state.phi, state.nu, state.capacity, cfg.cost_synthetic,
                                   cfg.cost_human, cfg.cost_quadratic)
        self.welfare = {k: float(v) for k, v in welfare_components(
            producer_surplus=surplus, revenue=money_per_quality * q,
            revenue_collapse_free=money_per_quality * q_collapse_free,
            paid_by_trainers=paid, kl=self.kl_public, rho=self.rho, collapse_weight=cfg.collapse_weight,
            lemon_penalty=cfg.lemon_penalty, volume=self.volume,
            policy_cost=policy_cost(self.levers, bundles.sum(), synthetic_vol.sum(), self.volume) + fee / self.volume,
        ).items()}
        used = bundles.sum()
        self.mean_price = float(payments.sum() / used) if used > 0 else 0.0
        self.mean_quality = float(q.mean())
        self.mean_provenance = float(state.phi.mean())

    def _public_model(self, shares: np.ndarray) -> None:
        """q̄_t, its tempered sampling source, and its distance to p (KL, probe W2, Bures W2 of the moments)."""
        cfg = self.config
        models = [t.generative_model for t in self.trainers]
        self.public_model = combine(models, shares)
        self.synthetic_source = combine([temper(m, cfg.temperature) for m in models], shares)
        self.kl_public = kl_divergence(self.public_model, self.p, self.rng, cfg.kl_samples)
        self.w2_public = w2_sinkhorn(sample(self.public_model, cfg.probe_size, self.rng), self.p_probe,
                                     cfg.sinkhorn_epsilon)
        mean, cov = self.public_model.moments()
        p_mean, p_cov = self.p.moments()
        self.w2_moments = float(w2_gaussian(mean, cov, p_mean, p_cov))

    def _pmir_rounds(self, z: np.ndarray, money_per_quality: np.ndarray) -> tuple[np.ndarray, Settlement]:
        """PMIR: `pmir_rounds` rounds of Algorithm 1 at this generation's provenance and the current models; the
        last round's bundles and the rounds' settlement."""
        import jax
        import jax.numpy as jnp

        from sdce.pmir import Generation, generation_rounds, policy_fields

        cfg, state = self.config, self.producer_state
        p_moments = self.p.moments()
        public = p_moments if self.public_model is None else self.public_model.moments()
        source = p_moments if self.public_model is None else self.synthetic_source.moments()
        fidelity = np.array([t.fidelity for t in self.trainers])
        f32 = partial(jnp.asarray, dtype=jnp.float32)
        gen = Generation(f32(state.phi), f32(state.capacity), jnp.zeros(cfg.n_producers, jnp.float32),
                         jnp.ones(cfg.n_producers, jnp.float32), f32(z),
                         f32(money_per_quality), f32(collapse_factor(fidelity, cfg.kappa_q)),
                         tuple(map(f32, p_moments)), tuple(map(f32, source)), tuple(map(f32, public)),
                         **policy_fields(cfg))
        key = jax.random.PRNGKey(int(self.rng.integers(2**31)))
        self.pmir, bundles, payments, paid, marginal_revenue, curves = generation_rounds(
            cfg, gen, self.pmir, key, cfg.pmir_rounds, True)
        curves = {k: np.asarray(v, float) for k, v in curves.items()}
        skipped, kept = int(curves["skipped_updates"][-1]), int(curves["kept_prices"].sum())  # the first: cumulative
        if skipped > self.numerics["skipped_updates"] or kept:
            warnings.warn(f"pmir generation {self.steps}: {skipped - self.numerics['skipped_updates']} optimizer "
                          f"updates skipped (non-finite gradient), {kept} prices kept (non-finite price gradient)",
                          RuntimeWarning, stacklevel=2)
        self.numerics = {"skipped_updates": skipped, "kept_prices": self.numerics["kept_prices"] + kept}
        for r in range(cfg.pmir_rounds):
            self.learning_curves.append({"generation": self.steps, "round": r, **{k: v[r] for k, v in curves.items()}})
        return np.asarray(bundles, float), Settlement(np.asarray(payments, float), np.asarray(paid, float),
                                                      np.asarray(marginal_revenue, float))

    def _choose_bundles(self, z: np.ndarray, money_per_quality: np.ndarray) -> tuple[np.ndarray, Any]:
        """The bundles (N, M) and what the regime settles on besides them (`Market.demand`): the regime's
        `sampled_bundles` at this generation's provenance and last generation's rho and fidelity (statutory
        trainers' `Perception`, kept as `self.perception`), or PMIR's rounds with their settlement."""
        cfg, state = self.config, self.producer_state
        if cfg.regime == "pmir":  # a learning regime: its rounds carry the learners' state (sdce.pmir)
            return self._pmir_rounds(z, money_per_quality)
        last_fidelity = np.array([t.fidelity for t in self.trainers])
        bundles, self.perception = regime_module(cfg.regime).sampled_bundles(Offer(
            cfg, self.levers, state.phi, state.capacity, state.capacity / self.volume, self.volume, self.rho, z,
            money_per_quality, collapse_factor(last_fidelity, cfg.kappa_q)), self.rng)
        return bundles, self.perception

    def _retrain(self, human_vol: np.ndarray, synthetic_vol: np.ndarray) -> None:
        cfg = self.config
        n_h = randomized_round(cfg.samples_per_unit * human_vol, self.rng)
        n_s = randomized_round(cfg.samples_per_unit * synthetic_vol, self.rng)
        if self.retrainer is not None:
            fidelity = self.retrainer.generation(int(self.rng.integers(2**31)), n_h, n_s)
            for trainer, d in zip(self.trainers, fidelity):
                trainer.fidelity = float(d)
            return
        source = self.p if self.public_model is None else self.synthetic_source
        for trainer, nh, ns in zip(self.trainers, n_h, n_s):
            if self.public_model is None:  # generation 0: human data only
                nh, ns = nh + ns, 0
            trainer.retrain(sample(self.p, nh, self.rng), sample(source, ns, self.rng))
            trainer.fidelity = kl_divergence(trainer.generative_model, self.p, self.rng, cfg.kl_samples)
