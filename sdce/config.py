"""One validated configuration for every simulation (docs/model.md §1).

Defaults are Table I of the paper (`sdce.paper.table1`) plus the parameters the specification adds. Every field
names its allowed range; values outside it are rejected before any work starts, with a message that names the
parameter.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sdce.economics.policy import LEVEL_FIELDS, POLICIES, PolicyLevers, policy_levers
from sdce.economics.technology import elasticities
from sdce.errors import ConfigError
from sdce.paper.table1 import TABLE_I
from sdce.regimes import REGISTRY

REGIMES: tuple[str, ...] = tuple(REGISTRY)  # a regime is known by its module's registration
Regime = Literal[REGIMES]



def param(default: Any, allowed: str, description: str, section: str, **constraints: Any) -> Any:
    return Field(
        default, description=description, json_schema_extra={"allowed": allowed, "section": section}, **constraints
    )


class SDCEConfig(BaseModel):
    """All parameters of the market and the data world. Load with `load_config` or build with keywords."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # -- market (Table I) ------------------------------------------------------------------------------------------
    n_producers: int = param(TABLE_I["n_producers"], "integer >= 2", "N, number of producers", "market", ge=2)
    n_trainers: int = param(TABLE_I["n_trainers"], "integer >= 1", "M, number of trainers", "market", ge=1)
    generations: int = param(TABLE_I["generations"], "integer >= 1", "T, generations after generation 0",
                              "market", ge=1)
    regime: Regime = param("unregulated", "|".join(REGIMES), "who is paid and how (docs/model.md §6)", "market")
    royalty: float = param(0.01, "float >= 0", "statutory royalty r per unit per licensee (regime statutory)",
                            "market", ge=0.0)
    discount: float = param(TABLE_I["discount"], "0 < float < 1", "gamma, discount factor of eq. (3)", "market",
                             gt=0.0, lt=1.0)
    learning_rate: float = param(TABLE_I["learning_rate"], "float > 0",
                                  "eta, step of producers' price updates, Algorithm 1 line 18",
                                  "market", gt=0.0)
    shaping_beta: float = param(TABLE_I["shaping_beta"], "float >= 0", "beta, W2 reward shaping (Algorithm 1)",
                                 "market", ge=0.0)
    pmir_rounds: int = param(20, "integer >= 1", "market rounds of Algorithm 1 (lines 4-19) per generation (pmir)",
                             "market", ge=1)
    policy_rate: float = param(0.05, "float > 0", "Adam step of trainers' policies and TD critics, Algorithm 1 "
                               "lines 14-15 (pmir)", "market", gt=0.0)
    exploration: float = param(0.1, "0 <= float < 1", "epsilon, producers' exploration probability (Assumption 3)",
                               "market", ge=0.0, lt=1.0)
    initial_price: float = param(0.01, "float >= 0", "posted price of every producer at round 0 (pmir)", "market",
                                 ge=0.0)
    replay_size: int = param(512, "integer >= 1", "capacity of each trainer's replay buffer D (pmir)", "market",
                             ge=1)
    replay_batch: int = param(32, "integer >= 1", "minibatch B of the TD critic update (pmir)", "market", ge=1)
    bargaining_power: float = param(0.5, "0 <= float <= 1", "eta, producers' Nash bargaining power (intermediary)",
                                    "market", ge=0.0, le=1.0)
    intermediary_cost: float = param(0.0, "float >= 0", "F, the intermediary's operating cost per unit of V "
                                     "(intermediary)", "market", ge=0.0)
    # -- welfare (Theorem 2) ---------------------------------------------------------------------------------------
    collapse_weight: float = param(TABLE_I["collapse_weight"], "float > 0", "kappa, collapse weight of eq. (6)",
                                    "welfare", gt=0.0)
    lemon_penalty: float = param(TABLE_I["lemon_penalty"], "float >= 0", "lambda, lemon-market penalty of eq. (7)",
                                  "welfare", ge=0.0)
    # -- technology, eq. (2) ---------------------------------------------------------------------------------------
    gamma0: float = param(TABLE_I["gamma0"], "float >= 0", "gamma(0), human-data elasticity at rho = 0",
                           "technology", ge=0.0)
    gamma1: float = param(0.10, "float > 0", "slope of gamma(rho) = gamma0 + gamma1 rho (gamma' > 0)",
                           "technology", gt=0.0)
    delta0: float = param(TABLE_I["delta0"], "float > 0", "delta(0); delta(rho) = delta0 (1 - rho), so delta' < 0",
                           "technology", gt=0.0)
    alpha: float = param(0.3, "float >= 0", "labor elasticity alpha", "technology", ge=0.0)
    beta_k: float = param(0.3, "float >= 0", "compute elasticity beta_K", "technology", ge=0.0)
    tfp: float = param(1.0, "float > 0", "A, total factor productivity", "technology", gt=0.0)
    output_price: float = param(1.0, "float > 0", "P_Q, market value of quality per unit of content",
                                 "technology", gt=0.0)
    kappa_q: float = param(5.0, "float >= 0", "kappa_Q, collapse channel exp(-kappa_Q D) in quality",
                            "technology", ge=0.0)
    trainer_heterogeneity: float = param(0.25, "float >= 0", "log-sd of trainers' L_j, K_j and kappa_j",
                                          "technology", ge=0.0)
    trainer_seed: int = param(0, "integer >= 0", "seed of the fixed trainer population (L_j, K_j, kappa_j)",
                              "technology", ge=0)
    technology: Literal["closed_form", "retrain"] = param(
        "closed_form", "closed_form|retrain",
        "trainers' models: the Gaussian-family data world, or trained Flax models of docs/model.md §11", "technology")
    retrain_domain: Literal["text", "images", "recsys"] = param(
        "text", "text|images|recsys", "domain of the trained models when technology = retrain", "technology")
    retrain_size: Literal["tiny", "small", "paper"] = param(
        "tiny", "tiny|small|paper", "model size when technology = retrain", "technology")
    bundle_temp: float = param(0.005, "float > 0", "entropy weight making bundle choice strictly concave",
                                "technology", gt=0.0)
    # -- producers (docs/model.md §3) ---------------------------------------------------------------------------------
    ability_mean: float = param(0.8, "0 < float < 1", "mean of ability phi_bar ~ Beta", "producers",
                                 gt=0.0, lt=1.0)
    ability_concentration: float = param(10.0, "float > 0", "a + b of the Beta law of phi_bar", "producers", gt=0.0)
    nu_mean: float = param(0.5, "float >= 0", "mean intrinsic motivation nu ~ Exponential", "producers", ge=0.0)
    capacity: float = param(1.0, "float > 0", "capacity h_bar of each producer (units per generation)",
                             "producers", gt=0.0)
    cost_synthetic: float = param(0.05, "float >= 0", "c_S, unit cost of content", "producers", ge=0.0)
    cost_human: float = param(0.5, "float >= 0", "c_H, linear cost of human share", "producers", ge=0.0)
    cost_quadratic: float = param(1.0, "float > 0", "c_2, quadratic cost of human share", "producers", gt=0.0)
    adjust_rate: float = param(0.3, "0 < float <= 1", "theta_phi, partial adjustment of provenance", "producers",
                                gt=0.0, le=1.0)
    fixed_rho: float | None = param(None, "0 <= float <= 1, or unset",
                                    "hold rho fixed: every unit is (1 - fixed_rho) human; producers do not choose",
                                    "producers", ge=0.0, le=1.0)
    # -- provenance signals (docs/model.md §4) ------------------------------------------------------------------------
    signal_sd: float = param(0.3, "float >= 0", "sigma_0, provenance signal noise at psi = 1/2", "signals", ge=0.0)
    detectability: float = param(0.5, "0 < float <= 1", "psi_0, detectability without watermark", "signals",
                                  gt=0.0, le=1.0)
    watermark: float = param(0.0, "finite float >= 0 (policy = watermark)",
                              "w, watermark strength: psi(w) = 1 - (1 - psi_0) exp(-w)", "signals", ge=0.0,
                              allow_inf_nan=False)
    # -- policies (docs/model.md §7) ----------------------------------------------------------------------------------
    policy: Literal["none", "subsidy", "disclosure", "royalty-cap", "transfer", "watermark"] = param(
        "none", "|".join(POLICIES), "policy instrument in force, on top of the regime (docs/model.md §7)", "policy")
    subsidy: float = param(0.0, "finite float >= 0 (policy = subsidy)", "s, paid to trainers per unit of perceived "
                           "human content", "policy", ge=0.0, allow_inf_nan=False)
    royalty_cap: float = param(math.inf, "float >= 0 (policy = royalty-cap)", "p̄, cap on the royalty charged",
                               "policy", ge=0.0)
    transfer: float = param(0.0, "finite float >= 0 (policy = transfer)", "lump sum per producer, levied on "
                            "trainers", "policy", ge=0.0, allow_inf_nan=False)
    disclosure_cost: float = param(0.02, "float >= 0", "resource cost per unit of content under disclosure",
                                   "policy", ge=0.0)
    watermark_cost: float = param(0.02, "float >= 0", "resource cost per synthetic unit and unit of watermark w",
                                  "policy", ge=0.0)
    # -- data world (docs/model.md §2) --------------------------------------------------------------------------------
    dim: int = param(2, "integer >= 1", "d, dimension of the feature space", "data", ge=1)
    human_dist: Literal["gaussian", "gmm"] = param("gaussian", "gaussian|gmm", "human distribution p", "data")
    human_modes: int = param(3, "integer >= 2", "modes of p when human_dist = gmm", "data", ge=2)
    human_mode_radius: float = param(2.0, "float > 0", "radius of the circle of p's modes", "data", gt=0.0)
    human_mode_scale: float = param(0.5, "float > 0", "std of each mode of p", "data", gt=0.0)
    family: Literal["gaussian", "gmm"] = param("gaussian", "gaussian|gmm", "model family of q_j", "data")
    components: int = param(3, "integer >= 1", "K, components of the gmm family", "data", ge=1)
    em_iterations: int = param(50, "integer >= 1", "EM iterations for the gmm family", "data", ge=1)
    learning_rule: Literal["mle", "wgf"] = param("mle", "mle|wgf", "how a trainer updates its model", "data")
    train_time: float = param(math.inf, "float > 0 (inf = minimizer)", "training time of the wgf rule", "data",
                               gt=0.0)
    data_mode: Literal["replace", "accumulate"] = param("replace", "replace|accumulate",
                                                         "fit on this generation's samples or on all so far", "data")
    temperature: float = param(0.8, "0 < float <= 1", "tau, sampling temperature of synthetic data", "data",
                                gt=0.0, le=1.0)
    samples_per_unit: float = param(1.0, "float > 0", "samples in one unit of data volume", "data", gt=0.0)
    probe_size: int = param(512, "integer >= 16", "held-out probe size for the Sinkhorn W2", "data", ge=16)
    kl_samples: int = param(8192, "integer >= 16", "Monte-Carlo draws for KL(q‖p) when q or p is a mixture", "data",
                            ge=16)
    sinkhorn_epsilon: float = param(0.05, "float > 0", "absolute entropic epsilon of the ott-jax W2", "data",
                                     gt=0.0)

    @model_validator(mode="after")
    def _joint_constraints(self) -> SDCEConfig:
        for rho in (0.0, 1.0):  # gamma and delta are affine, so the endpoints bound the sum on [0, 1]
            total = self.alpha + self.beta_k + sum(elasticities(rho, self.gamma0, self.gamma1, self.delta0))
            if total > 1.0 + 1e-12:
                raise ValueError(
                    f"alpha + beta_k + gamma(rho) + delta(rho) must be <= 1 for all rho in [0, 1]; "
                    f"at rho={rho:g} it is {total:.4g} (alpha={self.alpha}, beta_k={self.beta_k}, "
                    f"gamma0={self.gamma0}, gamma1={self.gamma1}, delta0={self.delta0})"
                )
        levels = {"subsidy": self.subsidy > 0, "watermark": self.watermark > 0, "transfer": self.transfer > 0,
                  "royalty-cap": math.isfinite(self.royalty_cap)}
        stray = [name for name, set_ in levels.items() if set_ and self.policy != name]
        if stray:
            field = LEVEL_FIELDS[stray[0]]
            raise ValueError(f"{field}={getattr(self, field)} is set but policy={self.policy!r}; set "
                             f"policy={stray[0]!r} (a level takes effect only with its policy)")
        if self.policy == "royalty-cap" and not math.isfinite(self.royalty_cap):
            raise ValueError("policy='royalty-cap' needs a finite royalty_cap (p̄ >= 0)")
        if self.learning_rule == "wgf" and self.family != "gaussian":
            raise ValueError(
                "learning_rule='wgf' needs family='gaussian' (the flow has its closed form only there); "
                f"got family={self.family!r}"
            )
        return self

    def levers(self) -> PolicyLevers:
        """The policy's levers: subsidy, detectability, royalty charged, transfer (docs/model.md §7)."""
        return policy_levers(self.policy, subsidy=self.subsidy, watermark=self.watermark, royalty=self.royalty,
                             royalty_cap=self.royalty_cap, transfer=self.transfer,
                             detectability_0=self.detectability, disclosure_cost=self.disclosure_cost,
                             watermark_cost=self.watermark_cost)

    def replace(self, **changes: Any) -> SDCEConfig:
        """A validated copy with some values changed."""
        return make_config({**self.model_dump(), **changes})


def _describe(error: dict[str, Any], schema: type[BaseModel]) -> str:
    name = ".".join(str(p) for p in error["loc"]) or "config"
    field = schema.model_fields.get(name)
    if error["type"] == "extra_forbidden":
        return f"unknown parameter {name!r} (see `sdce config show` for the valid names)"
    allowed = f"; allowed: {field.json_schema_extra['allowed']}" if field is not None else ""
    got = f" (got {error['input']!r})" if field is not None else ""
    message = error["msg"].removeprefix("Value error, ")
    return f"{name}: {message}{got}{allowed}"


def _python_scalar(value: Any) -> Any:
    """A NumPy bool, integer or float scalar as the Python bool, int or float it holds (`np.int64(64)` -> 64), so
    that grids built with NumPy (`mesa.batch_run` over `np.arange`) validate like Python numbers; anything else
    unchanged, to be judged by the strict schema."""
    return value.item() if isinstance(value, np.bool_ | np.integer | np.floating) else value


def validated(schema: type[BaseModel], values: dict[str, Any]) -> Any:
    """Build `schema` from `values` (NumPy scalars as Python numbers, `_python_scalar`); raise ConfigError naming each
    bad parameter and its allowed range."""
    try:
        return schema(**{name: _python_scalar(value) for name, value in values.items()})
    except ValidationError as exc:
        lines = "\n  ".join(_describe(e, schema) for e in exc.errors())
        raise ConfigError(f"invalid configuration:\n  {lines}") from None


def make_config(values: dict[str, Any] | None = None, **overrides: Any) -> SDCEConfig:
    """A validated SDCEConfig from a mapping and keyword overrides."""
    return validated(SDCEConfig, {**(values or {}), **overrides})


def _toml_values(path: Path) -> dict[str, Any]:
    """The flat parameters of a TOML file: top-level pairs and pairs in `[section]` tables, each in its own
    section (the sections of `config_toml`); a file that is not readable TOML text, an unknown table or a
    parameter under another section's table is refused."""
    if path.is_dir():
        raise ConfigError(f"--config {path}: is a folder, not a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not a text file (TOML is UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    sections = {f.json_schema_extra["section"] for f in SDCEConfig.model_fields.values()}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(value, dict):
            values[key] = value
            continue
        if key not in sections:
            raise ConfigError(f"{path}: unknown table [{key}]; the tables are {', '.join(sorted(sections))} "
                              "(see `sdce config show`)")
        for name, item in value.items():
            field = SDCEConfig.model_fields.get(name)
            if field is not None and field.json_schema_extra["section"] != key:
                raise ConfigError(f"{path}: {name} is a parameter of [{field.json_schema_extra['section']}], "
                                  f"found under [{key}]")
            values[name] = item
    return values


def load_config(path: str | Path | None = None, **overrides: Any) -> SDCEConfig:
    """Read a TOML file (flat `name = value` pairs, optional `[section]` tables) and apply overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values = _toml_values(Path(path))
    return make_config(values, **{k: v for k, v in overrides.items() if v is not None})


def config_toml(config: SDCEConfig) -> str:
    """The configuration as commented TOML, grouped by section; `load_config` reads it back."""
    lines: list[str] = []
    current = None
    for name, field in SDCEConfig.model_fields.items():
        section = field.json_schema_extra["section"]
        if section != current:
            lines.append(f"\n[{section}]")
            current = section
        value = getattr(config, name)
        if value is None:
            lines.append(f"# {name} = (unset)  # {field.description} [{field.json_schema_extra['allowed']}]")
            continue
        if isinstance(value, str):
            text = f'"{value}"'
        elif isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, float) and math.isinf(value):
            text = "inf"
        else:
            text = repr(value)
        lines.append(f"{name} = {text:<12} # {field.description} [{field.json_schema_extra['allowed']}]")
    return "\n".join(lines).lstrip() + "\n"
