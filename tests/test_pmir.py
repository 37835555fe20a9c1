"""PMIR (Algorithm 1, docs/model.md §6): settlement, price gradient, policies on posted prices, determinism, and the
ABM against the continuum's expected dynamics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meanfield.equilibrium import solve_equilibrium
from meanfield.solve import solve_meanfield
from sdce.config import make_config
from sdce.economics.posted_prices import (
    marginal_unit_values,
    price_gradient,
    price_weighted_payments,
    settlement_factor,
)
from sdce.economics.technology import quality
from sdce.errors import ConfigError
from sdce_abm.model import SDCEModel

SMALL = dict(regime="pmir", n_producers=64, n_trainers=3, generations=2, pmir_rounds=5)


def _run(**params):
    seed = params.pop("seed", 5)
    model = SDCEModel(seed=seed, **{**SMALL, **params})
    while model.running:
        model.step()
    return model


def _market(seed=0, n=40, m=3):
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0, 1, n)
    bundles = rng.uniform(0, 1, (n, m)) * (rng.random((n, m)) < 0.7)
    prices = rng.uniform(0.01, 0.1, n)
    z, money = rng.uniform(0.5, 1.5, m), rng.uniform(0.5, 2.0, m)
    gamma, delta = 0.22, 0.09
    volume = float(n)
    q = quality(z, phi @ bundles / volume, (1 - phi) @ bundles / volume, gamma, delta)
    return phi, bundles, prices, z, money, gamma, delta, volume, q


@pytest.mark.parametrize("exact", [True, False])
def test_settlement_balances_what_trainers_paid_and_is_proportional_to_price_times_contribution(exact):
    phi, bundles, prices, z, money, gamma, delta, volume, q = _market()
    paid = prices @ bundles
    pay = price_weighted_payments(bundles, prices, phi, volume, z, gamma, delta, 1.0, money, q, paid, exact)
    np.testing.assert_allclose(pay.sum(0), paid, rtol=1e-12)  # budget balance per trainer
    assert np.all(pay >= 0) and np.all(pay[bundles == 0] == 0)
    # the ratio of two producers' receipts is the ratio of p x leave-one-out contribution
    h, s = phi @ bundles, (1 - phi) @ bundles
    i, k, j = np.nonzero(bundles[:, 0])[0][:2].tolist() + [0]
    def loo(r):
        hl, sl = h[j] - bundles[r, j] * phi[r], s[j] - bundles[r, j] * (1 - phi[r])
        full = z[j] * (h[j] / volume) ** gamma * (s[j] / volume) ** delta
        return full - z[j] * (hl / volume) ** gamma * (sl / volume) ** delta
    if exact:
        assert pay[i, j] / pay[k, j] == pytest.approx(prices[i] * loo(i) / (prices[k] * loo(k)), rel=1e-9)


def test_price_gradient_is_the_derivative_of_expected_receipts():
    """Line 18 against jax.grad of p h̄ pi(p) u summed over trainers, with the logit demand of the policy."""
    phi, bundles, prices, z, money, gamma, delta, volume, q = _market(seed=3)
    paid = prices @ bundles
    values = marginal_unit_values(phi, bundles, q, gamma, delta, money)
    u = settlement_factor(prices, bundles, values, paid)
    theta_price, scale, base = np.array([-1.5, -0.7, -2.0]), np.array([0.05, 0.04, 0.06]), np.array([0.3, -0.2, 1.0])

    def receipts(p_i, i):
        prob = jax.nn.sigmoid(base + theta_price * (p_i - prices.mean()) / scale)
        return jnp.sum(p_i * 1.0 * prob * u[i])

    i = 7
    prob = 1 / (1 + np.exp(-(base + theta_price * (prices[i] - prices.mean()) / scale)))
    buy = np.tile(prob, (len(prices), 1))
    ours = price_gradient(prices, buy, 1.0, values, bundles, paid, theta_price, scale)[i]
    assert ours == pytest.approx(float(jax.grad(receipts)(jnp.float64(prices[i]) if jax.config.x64_enabled
                                                          else jnp.float32(prices[i]), i)), rel=1e-4)


def test_pmir_money_balances_and_outputs_stay_in_range():
    model = _run()
    for ledger in model.ledger:
        assert ledger["paid_by_trainers"] == pytest.approx(ledger["received_by_producers"], rel=1e-6)
        assert ledger["paid_by_trainers"] > 0
    assert 0 <= model.rho <= 1 and np.all(np.asarray(model.pmir.prices) >= 0)
    assert len(model.learning_curves) == (SMALL["generations"] + 1) * SMALL["pmir_rounds"]
    assert all(np.isfinite(r["return"]) and np.isfinite(r["critic_loss"]) for r in model.learning_curves)
    from sdce_abm.output import summary

    assert summary(model).numerics == {"skipped_updates": 0, "kept_prices": 0}


def test_pmir_same_seed_same_run_and_seeds_differ():
    a, b, c = _run(seed=3), _run(seed=3), _run(seed=4)
    ta, tb, tc = (m.datacollector.get_model_vars_dataframe()[["rho", "quality", "price"]] for m in (a, b, c))
    assert ta.equals(tb)
    assert not ta.equals(tc)


def test_royalty_cap_binds_on_posted_prices():
    free, cap = _run(), 0.02
    capped = _run(policy="royalty-cap", royalty_cap=cap)
    assert np.asarray(free.pmir.prices).max() > cap  # without the cap, prices rise above p̄
    assert np.asarray(capped.pmir.prices).max() <= cap + 1e-7
    used = capped.bundles.sum()
    assert capped.payments.sum() / used <= cap + 1e-6  # what trainers pay per unit, at most p̄


def test_disclosure_makes_the_running_mean_exact():
    model = _run(policy="disclosure")
    state = model.pmir
    estimate = np.asarray(state.signal_sum) / float(state.signal_count)
    np.testing.assert_allclose(estimate, model.producer_state.phi, atol=1e-6)  # psi = 1: no signal noise
    noisy = _run()
    estimate = np.asarray(noisy.pmir.signal_sum) / float(noisy.pmir.signal_count)
    assert np.abs(estimate - noisy.producer_state.phi).max() > 0.01


def test_transfers_are_lump_sum_under_pmir():
    """A lump-sum transfer changes no decision: bundles, prices and provenance are those without it."""
    base, with_transfer = _run(), _run(policy="transfer", transfer=0.05)
    np.testing.assert_array_equal(base.bundles, with_transfer.bundles)
    np.testing.assert_array_equal(base.producer_state.phi, with_transfer.producer_state.phi)
    np.testing.assert_array_equal(np.asarray(base.pmir.prices), np.asarray(with_transfer.pmir.prices))
    gap = with_transfer.ledger[-1]["received_by_producers"] - base.ledger[-1]["received_by_producers"]
    assert gap == pytest.approx(0.05 * SMALL["n_producers"], rel=1e-9)


def test_pmir_config_errors_are_specific():
    with pytest.raises(ConfigError, match="pmir_rounds"):
        make_config(regime="pmir", pmir_rounds=0)
    with pytest.raises(ConfigError, match="exploration"):
        make_config(regime="pmir", exploration=1.0)
    with pytest.raises(ConfigError, match="grid='gaussian'"):
        solve_meanfield(make_config(regime="pmir", dim=1), grid="1d")


@pytest.mark.slow
def test_abm_pmir_tracks_the_continuum_dynamics():
    """The ABM's PMIR (sampled bundles, noisy signals, exploration) against the continuum's expected dynamics of
    the same configuration: seed-mean rho_t and Q_t within 0.05 over the first generations (N = 512, 3 seeds)."""
    cfg = dict(regime="pmir", n_producers=512, generations=3)
    mf = solve_meanfield(make_config(**cfg))
    runs = []
    for seed in (11, 12, 13):
        model = SDCEModel(seed=seed, **cfg)
        while model.running:
            model.step()
        runs.append(model.datacollector.get_model_vars_dataframe()[["rho", "quality"]].to_numpy())
    mean = np.mean(runs, axis=0)
    assert np.max(np.abs(mean[:, 0] - mf["rho"])) < 0.05
    assert np.max(np.abs(mean[:, 1] - mf["quality"])) < 0.05


def _window_means(cfg: dict, seeds, window: int):
    """Seed means of rho, Q, the unit price and W over the ABM's last `window` generations."""
    runs = []
    for seed in seeds:
        model = SDCEModel(seed=seed, **cfg)
        while model.running:
            model.step()
        frame = model.datacollector.get_model_vars_dataframe()[["rho", "quality", "price", "W"]]
        runs.append(frame.iloc[-window:].mean())
    return sum(runs) / len(runs)


@pytest.mark.slow
def test_abm_pmir_converges_to_the_continuum_sdce():
    """PMIR on a small market (N = 512, M = 16, 3 seeds, 40 generations, the last 20 averaged) against the
    continuum's epsilon-SDCE of `sdce equilibrium` (epsilon about 0.1: the relative oscillation constant steps
    leave). Tolerances: rho within 0.05 (epsilon times rho*), the unit price within 15%, W within 0.03; Q within
    0.07, because the ABM's models are fit to finite samples (the collapse channel exp(-kappa_Q D) is lower at N =
    512; measured gap 0.05)."""
    cfg = dict(regime="pmir", n_producers=512, generations=40)
    eq = solve_equilibrium(make_config(**cfg), starts=1)
    assert eq.converged == [True] and eq.time_average.epsilon[0] < 0.2
    abm = _window_means(cfg, (11, 12, 13), window=20)
    assert abs(abm["rho"] - eq.rho_star) < 0.05
    assert abs(abm["price"] / eq.time_average.unit_price_star - 1) < 0.15
    assert abs(abm["W"] - eq.welfare["W"]) < 0.03
    assert abs(abm["quality"] - eq.quality_star) < 0.07


@pytest.mark.slow
def test_a_subsidy_lowers_rho_star_under_pmir():
    """Corollary 1's instrument: s per unit of perceived human content lowers the continuum PMIR's rho*, by more
    than the equilibrium's oscillation."""
    base = solve_equilibrium(make_config(regime="pmir"), starts=1)
    subsidised = solve_equilibrium(make_config(regime="pmir", policy="subsidy", subsidy=0.05), starts=1)
    gap = base.rho_star - subsidised.rho_star
    assert gap > base.time_average.epsilon[0] * base.rho_star


def test_settled_means_no_trend_beyond_the_oscillation():
    """The epsilon-SDCE's settling test on known paths: an irregular oscillation around a constant has no trend
    beyond a few standard errors; the same oscillation on a drift of 10% over the window has, and the change it
    measures is that drift."""
    from meanfield.equilibrium import PMIR_TREND_Z, PMIR_WINDOW, _window_trend

    rng = np.random.default_rng(0)
    wobble = np.stack([0.6 + 0.02 * np.sin(1.7 * np.arange(PMIR_WINDOW) + rng.uniform(0, 6))
                       + 0.005 * rng.standard_normal(PMIR_WINDOW) for _ in range(20)])
    change, se = _window_trend(wobble)
    assert np.mean(change / se < PMIR_TREND_Z) >= 0.95
    drift = np.linspace(0, 0.06, PMIR_WINDOW)
    change, se = _window_trend(wobble + drift)
    assert np.all(change / se > PMIR_TREND_Z)
    with_drift, _ = _window_trend(drift[None] + 0.6)
    np.testing.assert_allclose(with_drift, 0.06 * PMIR_WINDOW / (PMIR_WINDOW - 1), rtol=1e-9)


def _random_admissible(rng) -> dict:
    return dict(regime="pmir", n_trainers=int(rng.integers(2, 9)), temperature=float(rng.uniform(0.7, 1.0)),
                collapse_weight=float(rng.uniform(0.5, 1.2)), shaping_beta=float(rng.uniform(0.0, 0.2)),
                exploration=float(rng.uniform(0.05, 0.2)))


@pytest.mark.slow
@pytest.mark.parametrize("params", [dict(n_producers=128, n_trainers=4), dict()] +
                         [_random_admissible(np.random.default_rng(k)) for k in range(5)],
                         ids=["quick", "default", *(f"random{k}" for k in range(5))])
def test_pmir_epsilon_sdce_settles_and_s_star_is_within_its_standard_error(params):
    """The quick, the default and 5 random admissible configurations settle from two starts; s* from the market's
    own start does not depend on how many starts are vmapped beside it beyond its standard error (the oscillation
    is chaotic, so float32 rounding differences grow; docs/model.md section 6)."""
    cfg = make_config(**{"regime": "pmir", **params})
    two = solve_equilibrium(cfg, starts=2)
    assert two.converged == [True, True], two.time_average.trend_z
    one = solve_equilibrium(cfg, starts=1)
    gap = abs(one.s_star - two.s_star)
    se = np.hypot(one.time_average.s_star_se, two.time_average.s_star_se)
    assert gap <= PMIR_S_STAR_Z * se, (gap, one.time_average.s_star_se)


PMIR_S_STAR_Z = 4.0


def test_guarded_numerics_are_counted_and_warned(monkeypatch):
    """A non-finite price gradient keeps the old price: counted in summary.json's `numerics`, with a warning."""
    import sdce.pmir
    from sdce_abm.output import summary

    original = sdce.pmir.price_gradient
    monkeypatch.setattr(sdce.pmir, "price_gradient", lambda *a, **k: original(*a, **k).at[0].set(jnp.nan))
    with pytest.warns(RuntimeWarning, match="prices kept"):
        broken = _run(probe_size=63)  # a configuration of its own: the jitted rounds are traced with the patch
    rounds = (SMALL["generations"] + 1) * SMALL["pmir_rounds"]
    assert summary(broken).numerics["kept_prices"] == rounds  # producer 0, every round
    assert float(broken.pmir.prices[0]) == pytest.approx(make_config(**SMALL).initial_price)
