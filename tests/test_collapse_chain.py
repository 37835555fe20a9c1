"""The no-market recursive-retraining chain (`sdce.collapse`) against known results of the model-collapse literature.

Monte-Carlo tolerances are derived from the replications themselves: a quantity estimated as the mean over R
independent replications is compared with its exact expectation within Z_TOL standard errors, where the standard
error is the per-rep standard deviation / sqrt(R) (the `<metric>_se` the chain reports, or the same statistic of
the per-rep rows, which the tests record by wrapping `run_chain`). With Z_TOL = 4 a single two-sided comparison
fails by chance with probability ~6e-5, so the ~200 comparisons below stay below ~1% even if the seeds change.

Notation: n = samples, d = dim, rho = synthetic share, tau = temperature, Sigma_t, mu_t = the generation-t fit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from scipy.stats import wishart

import sdce.collapse as collapse
from sdce.collapse import collapse_chain, make_collapse_config
from sdce.dataworld.learning import update_model
from sdce.dataworld.mixture import gaussian
from sdce.errors import ConfigError

Z_TOL = 4.0


def run_recorded(cfg, monkeypatch):
    """`collapse_chain(cfg)` plus its per-rep rows (reps, G+1, [mean_norm, cov_trace, kl, w2])."""
    runs = []
    original = collapse.run_chain

    def recording(c, rng):
        rows = original(c, rng)
        runs.append(rows)
        return rows

    monkeypatch.setattr(collapse, "run_chain", recording)
    out = collapse_chain(cfg)
    monkeypatch.setattr(collapse, "run_chain", original)
    runs = np.stack(runs)
    # the recorded rows are the ones the chain aggregated
    np.testing.assert_allclose(out["mean_norm"], runs[:, :, 0].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["cov_trace"], runs[:, :, 1].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["mean_norm_sq"], (runs[:, :, 0] ** 2).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["cov_trace_se"], runs[:, :, 1].std(axis=0, ddof=1) / math.sqrt(cfg.reps),
                               rtol=1e-12)
    return out, runs


def se(x: np.ndarray) -> np.ndarray:
    """Standard error over reps (axis 0) of a per-rep statistic."""
    return x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])


def assert_within(name, observed, expected, stderr, z=Z_TOL):
    observed, expected, stderr = (np.atleast_1d(np.asarray(a, float)) for a in (observed, expected, stderr))
    zscores = (observed - expected) / stderr
    bad = np.flatnonzero(np.abs(zscores) > z)
    assert bad.size == 0, (
        f"{name}: |observed - expected| > {z} se at index {bad.tolist()}: observed {observed[bad]}, expected "
        f"{expected[bad]}, se {stderr[bad]} (z = {zscores[bad]})"
    )


# -- 1. variance law of MLE refits with full replacement (Shumailov et al. 2024; Bertrand et al. 2024) -----------------


@pytest.mark.parametrize("tau", [1.0, 0.9])
def test_mle_replace_variance_and_mean_laws(tau, monkeypatch):
    """rho = 1, replace, rule mle.

    Gen 0 is the MLE fit to n draws of N(0, I): E Sigma_0 = (n-1)/n I (biased MLE), E|mu_0|^2 = d/n. Gen t+1 is
    the MLE fit to n draws of N(mu_t, tau Sigma_t), so E[Sigma_{t+1} | t] = tau (n-1)/n Sigma_t and, the sample
    mean being independent of the sample covariance, E|mu_{t+1}|^2 = E|mu_t|^2 + tau E tr Sigma_t / n. Hence

        E tr Sigma_t = d ((n-1)/n)^(t+1) tau^t                 (gen 0 is not tempered: one tau fewer than (n-1)/n)
        E |mu_t|^2  = (d/n) sum_{s=0..t} (tau (n-1)/n)^s          (a random walk whose steps shrink)

    (plus the 1e-6 ridge of each fit, added to the expectation below). Checked per generation within 4 se. An
    unbiased covariance estimator would give d tau^t (off by 0.975^21 = 0.59 at t = 20); ignoring tau would be
    off by 0.9^20 = 0.12 at tau = 0.9.
    """
    n, d, G, reps = 40, 2, 20, 300
    out, runs = run_recorded(make_collapse_config(samples=n, dim=d, generations=G, reps=reps, tau=tau, seed=11),
                             monkeypatch)
    t = np.arange(G + 1)
    a = tau * (n - 1) / n
    ridge = 1e-6 * d * np.cumsum(a**t)  # each fit adds 1e-6 I, then shrinks by a per generation
    expected_trace = d * ((n - 1) / n) ** (t + 1) * tau**t + ridge
    assert_within("E tr Sigma_t", out["cov_trace"], expected_trace, out["cov_trace_se"])

    expected_msq = d / n * np.cumsum(a**t)
    assert_within("E |mu_t|^2", out["mean_norm_sq"], expected_msq, se(runs[:, :, 0] ** 2))
    # the walk grows: by G it is several times the gen-0 error d/n
    assert out["mean_norm_sq"][G] - Z_TOL * se(runs[:, G, 0] ** 2) > 3 * d / n
    # the variance collapses: tr Sigma_G (expected <= 0.59 d) is below d, the value an unbiased fit would keep at
    # tau = 1, by more than 4 se
    assert out["cov_trace"][G] + Z_TOL * out["cov_trace_se"][G] < d


def test_temperature_scales_covariance_pathwise():
    """With rho = 1 and the same seed the draws are the same standard normals, so the tau chain's covariance is the
    tau = 1 chain's times tau^t exactly, up to the 1e-6 ridge of each fit (at most d 1e-6 (t+1) in trace)."""
    kw = dict(samples=10, dim=2, generations=8, reps=5, seed=3)
    base, cold = collapse_chain(make_collapse_config(**kw)), collapse_chain(make_collapse_config(tau=0.7, **kw))
    t = np.arange(9)
    np.testing.assert_allclose(cold["cov_trace"], np.asarray(base["cov_trace"]) * 0.7**t, rtol=1e-9,
                               atol=2e-6 * 9)


# -- 2. accumulating data keeps the error bounded (Gerstgrasser et al. 2024) ------------------------------------------


def test_accumulate_bounded_replace_grows(monkeypatch):
    """rho = 1, tau = 1, rule mle. Accumulate fits on all N_t = (t+1) n samples so far; gen t adds n draws of
    N(mu_{t-1}, Sigma_{t-1}). Then mu_t = mu_{t-1} + (n/N_t)(xbar_t - mu_{t-1}): an increment of variance
    tr Sigma_{t-1} / (n (t+1)^2), and the pooled sum of squares gives E Sigma_t = (1 - 1/(n (t+1)^2)) E Sigma_{t-1}.
    So, with c_s = E tr Sigma_s / d = ((n-1)/n) prod_{k=2..s+1} (1 - 1/(n k^2)) <= 1,

        E |mu_t|^2 = (d/n) [1 + sum_{k=2..t+1} c_{k-2} / k^2]  <  (d/n) pi^2/6,

    whereas replace gives E |mu_t|^2 = (d/n) sum_{s=0..t} ((n-1)/n)^s, ~ linear in t for t << n.
    """
    n, d, G, reps = 50, 1, 30, 300
    kw = dict(samples=n, dim=d, generations=G, reps=reps, seed=5)
    acc, acc_runs = run_recorded(make_collapse_config(data_mode="accumulate", **kw), monkeypatch)
    rep, rep_runs = run_recorded(make_collapse_config(data_mode="replace", **kw), monkeypatch)
    t = np.arange(G + 1)

    c = (n - 1) / n * np.concatenate([[1.0], np.cumprod(1 - 1 / (n * np.arange(2, G + 2) ** 2))])
    assert_within("accumulate E tr Sigma_t", acc["cov_trace"], d * c, acc["cov_trace_se"])
    k = np.arange(2, G + 2)
    acc_msq = d / n * np.concatenate([[1.0], 1 + np.cumsum(c[:-1] / k**2)])
    acc_se = se(acc_runs[:, :, 0] ** 2)
    assert_within("accumulate E |mu_t|^2", acc["mean_norm_sq"], acc_msq, acc_se)
    bound = d / n * math.pi**2 / 6
    assert np.all(np.asarray(acc["mean_norm_sq"]) <= bound + Z_TOL * acc_se), "accumulate exceeds (d/n) pi^2/6"

    rep_msq = d / n * np.cumsum(((n - 1) / n) ** t)
    rep_se = se(rep_runs[:, :, 0] ** 2)
    assert_within("replace E |mu_t|^2", rep["mean_norm_sq"], rep_msq, rep_se)
    # replace clearly exceeds the accumulate bound by G = 30 (expected 14x), and grows over the run
    assert rep["mean_norm_sq"][G] - Z_TOL * rep_se[G] > 5 * bound
    growth = rep_runs[:, G, 0] ** 2 - rep_runs[:, G // 3, 0] ** 2  # paired per rep
    assert growth.mean() - Z_TOL * se(growth) > 0
    assert_within("replace growth G/3 -> G", growth.mean(), rep_msq[G] - rep_msq[G // 3], se(growth))
    # and its variance collapses, E tr Sigma_t = d ((n-1)/n)^(t+1) (0.53 d at G = 30), while accumulate's does not
    assert_within("replace E tr Sigma_t", rep["cov_trace"], d * ((n - 1) / n) ** (t + 1), rep["cov_trace_se"])
    assert acc["cov_trace"][G] - Z_TOL * acc["cov_trace_se"][G] > 0.8 * d  # expected 0.967 d


# -- 3. fresh human data keeps the chain near p --------------------------------------------------------------------


def test_mixed_human_data_is_stationary_near_p(monkeypatch):
    """rho = 0.5, tau = 1, n = 200: n_H = 100 exactly. mu_{t+1} = (1-rho) hbar + rho sbar is an AR(1) with
    coefficient rho and innovation covariance ((1-rho) I + rho Sigma_t)/n, so with Sigma ~ I the stationary
    E|mu|^2 = d / (n (1 - rho^2)). Exactly, the pooled MLE gives the linear recursion of expectations

        E Sigma_{t+1} = (1 - 1/n) ((1-rho) I + rho E Sigma_t) + rho (1-rho) E mu_t mu_t^T
        E mu_{t+1} mu_{t+1}^T = rho^2 E mu_t mu_t^T + ((1-rho) I + rho E Sigma_t) / n,

    iterated from E Sigma_0 = (n-1)/n I, E mu_0 mu_0^T = I/n. Late generations (10..G) are averaged within each rep
    first, so the se over reps accounts for the autocorrelation. KL(q|p) ~ |mu|^2/2 + tr((Sigma-I)^2)/4 to second
    order, with stationary E tr((Sigma-I)^2) = d(d+1)/(n(1-rho^2)) (Wishart fluctuations, AR coefficient rho), i.e.
    E KL ~ d(d+3) / (4 n (1-rho^2)) = 0.0167 here: O(1/n).
    """
    n, d, G, reps, rho, burn = 200, 2, 50, 160, 0.5, 10
    out, runs = run_recorded(make_collapse_config(samples=n, dim=d, generations=G, reps=reps, rho=rho, seed=7),
                             monkeypatch)
    s, m = [(n - 1) / n], [1 / n]  # per-coordinate E Sigma_t, E mu_t^2
    for _ in range(G):
        s, m = s + [(1 - 1 / n) * ((1 - rho) + rho * s[-1]) + rho * (1 - rho) * m[-1]], \
            m + [rho**2 * m[-1] + ((1 - rho) + rho * s[-1]) / n]
    s, m = np.asarray(s), np.asarray(m)

    late_msq = (runs[:, burn:, 0] ** 2).mean(axis=1)
    assert_within("late E |mu|^2 (exact recursion)", late_msq.mean(), d * m[burn:].mean(), se(late_msq))
    # the AR(1) approximation d/(n(1-rho^2)) differs from the exact value by 0.3%, far inside the tolerance
    assert_within("late E |mu|^2 vs d/(n(1-rho^2))", late_msq.mean(), d / (n * (1 - rho**2)), se(late_msq))
    late_tr = runs[:, burn:, 1].mean(axis=1)
    assert_within("late E tr Sigma", late_tr.mean(), d * s[burn:].mean(), se(late_tr))
    assert_within("E tr Sigma_t per generation", out["cov_trace"], d * s, out["cov_trace_se"])

    kl_pred = d * (d + 3) / (4 * n * (1 - rho**2))
    late_kl = runs[:, burn:, 2].mean(axis=1)
    # second-order prediction; the neglected third-order terms are O(n^-1/2) = 7% relative, allow 15%
    assert abs(late_kl.mean() - kl_pred) <= 0.15 * kl_pred + Z_TOL * se(late_kl), (late_kl.mean(), kl_pred)
    # bounded by a constant over n at every generation: E KL <= 1.5 d(d+3)/(4(1-rho^2)) / n
    kl_mean, kl_se = np.asarray(out["kl"]), np.asarray(out["kl_se"])
    assert np.all(kl_mean - Z_TOL * kl_se <= 1.5 * kl_pred), kl_mean.max()


# -- 4. the wgf rule is the Ornstein-Uhlenbeck flow towards the geometric mixture --------------------------------------


def reference_wgf(prev_mean, prev_cov, mean_p, cov_p, mean_q, cov_q, rho, t):
    """Population OU update: pi ∝ N(p)^(1-rho) N(q)^rho has precision P = (1-rho) P_p + rho P_q and mean
    P^-1 ((1-rho) P_p m_p + rho P_q m_q); the flow dX = -P(X - m) dt + sqrt2 dW from N(m0, S0) is at time t
    N(m + e^{-Pt}(m0 - m), e^{-Pt} S0 e^{-Pt} + P^-1 (I - e^{-2Pt})); t = inf gives N(m, P^-1)."""
    prec_p, prec_q = np.linalg.inv(cov_p), np.linalg.inv(cov_q)
    P = (1 - rho) * prec_p + rho * prec_q
    m = np.linalg.solve(P, (1 - rho) * prec_p @ mean_p + rho * prec_q @ mean_q)
    if math.isinf(t):
        return m, np.linalg.inv(P)
    E = expm(-P * t)
    return m + E @ (prev_mean - m), E @ prev_cov @ E.T + np.linalg.inv(P) @ (np.eye(len(m)) - expm(-2 * P * t))


PREV = (np.array([2.0, -1.0]), np.array([[3.0, 0.4], [0.4, 0.5]]))
P_TRUE = (np.array([0.0, 0.0]), np.array([[1.0, 0.3], [0.3, 0.8]]))
Q_TRUE = (np.array([1.5, 1.0]), np.array([[0.5, -0.1], [-0.1, 2.0]]))


def test_reference_flow_solves_the_ode():
    """The closed form used as reference agrees with a numerical solution of the moment ODEs
    dm/dt = -P(m - m*), dS/dt = -PS - SP + 2I."""
    rho, t = 0.75, 0.3
    m_star, _ = reference_wgf(*PREV, *P_TRUE, *Q_TRUE, rho, math.inf)
    P = (1 - rho) * np.linalg.inv(P_TRUE[1]) + rho * np.linalg.inv(Q_TRUE[1])

    def rhs(_, y):
        mean, cov = y[:2], y[2:].reshape(2, 2)
        return np.concatenate([-P @ (mean - m_star), (-P @ cov - cov @ P + 2 * np.eye(2)).ravel()])

    sol = solve_ivp(rhs, (0, t), np.concatenate([PREV[0], PREV[1].ravel()]), rtol=1e-11, atol=1e-12)
    mean, cov = reference_wgf(*PREV, *P_TRUE, *Q_TRUE, rho, t)
    np.testing.assert_allclose(sol.y[:2, -1], mean, atol=1e-8)
    np.testing.assert_allclose(sol.y[2:, -1].reshape(2, 2), cov, atol=1e-8)


@pytest.mark.parametrize("train_time", [0.3, math.inf])
def test_wgf_update_matches_population_flow(train_time):
    """update_model(rule='wgf') with n_H = 100000 draws of p and n_S = 300000 draws of q (rho_hat = 0.75).

    (a) Exactly: equals the reference evaluated at the empirical MLE fits of the two parts (atol 1e-5 covers the
        1e-6 ridge of each fit).
    (b) Against the population update: tolerance 5 sd of the reference's output under the sampling law of the
        two MLE fits (mean ~ N(m, S/N), N cov ~ Wishart(N-1, S)), estimated from 200 parametric draws.
        The tolerance is ~0.01-0.02, while e.g. swapping rho and 1-rho, the arithmetic instead of the geometric
        mixture, or ignoring train_time all move the answer by O(1).
    """
    rng = np.random.default_rng(2024)
    n_h, n_s, rho = 100_000, 300_000, 0.75
    human = rng.multivariate_normal(*P_TRUE, size=n_h)
    synth = rng.multivariate_normal(*Q_TRUE, size=n_s)
    q = update_model(gaussian(*PREV), human, synth, family="gaussian", components=1, em_iterations=1, rule="wgf",
                     train_time=train_time, rng=np.random.default_rng(0))
    got_mean, got_cov = q.means[0], q.covs[0]

    emp = [(x.mean(axis=0), np.cov(x.T, bias=True)) for x in (human, synth)]
    ref_mean, ref_cov = reference_wgf(*PREV, *emp[0], *emp[1], rho, train_time)
    np.testing.assert_allclose(got_mean, ref_mean, atol=1e-5)
    np.testing.assert_allclose(got_cov, ref_cov, atol=1e-5)

    pop_mean, pop_cov = reference_wgf(*PREV, *P_TRUE, *Q_TRUE, rho, train_time)
    boot = []
    for _ in range(200):
        fits = [(rng.multivariate_normal(m, S / N), wishart.rvs(N - 1, S, random_state=rng) / N)
                for (m, S), N in ((P_TRUE, n_h), (Q_TRUE, n_s))]
        bm, bc = reference_wgf(*PREV, *fits[0], *fits[1], rho, train_time)
        boot.append(np.concatenate([bm, bc.ravel()]))
    sd = np.std(boot, axis=0, ddof=1)
    diff = np.concatenate([got_mean - pop_mean, (got_cov - pop_cov).ravel()])
    assert np.all(np.abs(diff) <= 5 * sd + 1e-5), (diff, sd)
    # the update really moved: it is far from `previous` relative to the tolerance
    assert np.max(np.abs(got_mean - PREV[0])) > 100 * sd.max()


@pytest.mark.parametrize("tau", [1.0, 0.8])
def test_wgf_chain_fixed_point(tau):
    """rule wgf, train_time inf, rho = 0.5, n = 20000, d = 2. At the population level the chain's next model is the
    geometric mixture of p and the tempered model, Sigma_{t+1}^-1 = (1-rho) I + rho (tau Sigma_t)^-1 and mean
    contracting to 0. With tau = 1 it stays at p (tr Sigma = d); with tau = 0.8 it converges (rate rho/tau) to
    tr Sigma = d (1 - rho/tau)/(1 - rho) = 0.75 d. The finite-n bias (E of the inverse of an MLE covariance,
    factor n/(n-d-2)) is bounded by 2 d (d+2)/n_S / (1 - rho/tau) in trace; add it to 4 se over reps.
    """
    n, d, G, reps, rho = 20_000, 2, 20, 10, 0.5
    out = collapse_chain(make_collapse_config(samples=n, dim=d, generations=G, reps=reps, rho=rho, tau=tau,
                                              rule="wgf", train_time=math.inf, seed=13))
    x = [1.0]  # 1 / (per-coordinate population variance)
    for _ in range(G):
        x.append((1 - rho) + rho / tau * x[-1])
    expected = d / np.asarray(x)
    bias = 2 * d * (d + 2) / (n * rho) / (1 - rho / tau)
    tr, tr_se = np.asarray(out["cov_trace"]), np.asarray(out["cov_trace_se"])
    bad = np.abs(tr - expected) > Z_TOL * tr_se + bias
    assert not bad.any(), (tr[bad], expected[bad], tr_se[bad])
    assert abs(tr[G] - d * (1 - rho / tau) / (1 - rho)) <= Z_TOL * tr_se[G] + bias
    # the mean stays at the sampling-noise scale ~ sqrt(d/n)
    assert max(out["mean_norm"]) < 5 * math.sqrt(d / n)


# -- 5. determinism ----------------------------------------------------------------------------------------------------


def test_same_seed_same_output_different_seed_different():
    kw = dict(samples=15, dim=2, generations=5, reps=4, rho=0.3, tau=0.9)
    a = collapse_chain(make_collapse_config(seed=42, **kw))
    b = collapse_chain(make_collapse_config(seed=42, **kw))
    c = collapse_chain(make_collapse_config(seed=43, **kw))
    assert a == b
    for key in ("mean_norm", "cov_trace", "kl", "w2"):
        assert a[key] != c[key]


# -- 6. bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, names",
    [
        (dict(rho=1.5), ["rho"]),
        (dict(tau=0.0), ["tau"]),
        (dict(samples=1, dim=1), ["samples"]),
        (dict(samples=3, dim=3), ["samples", "dim"]),
        (dict(family="gmm", rule="wgf"), ["rule", "family"]),
        (dict(no_such_knob=1), ["no_such_knob"]),
    ],
)
def test_bad_input_raises_config_error_naming_parameter(values, names):
    with pytest.raises(ConfigError) as info:
        make_collapse_config(**values)
    for name in names:
        assert name in str(info.value), str(info.value)


def test_valid_config_is_accepted():
    cfg = make_collapse_config(rho=0.0, tau=1.0, samples=2, dim=1, family="gmm", components=2, rule="mle")
    assert (cfg.rho, cfg.samples, cfg.family) == (0.0, 2, "gmm")


def test_gmm_chain_at_low_temperature_keeps_valid_weights():
    """At tau = 0.1 the tempered samples fall on one component; EM's weights must still sum to 1, not 1 + K 1e-12 / n
    (numpy's multinomial refused that: a traceback from `sdce collapse --family gmm --tau 0.1`)."""
    from sdce.dataworld.mixture import fit_gmm

    x = np.random.default_rng(0).normal(size=(100, 1)) * 1e-3
    q = fit_gmm(x, 3, 30, np.random.default_rng(1))
    assert q.weights.sum() <= 1.0 and np.all(q.weights >= 0)
    result = collapse_chain(make_collapse_config(family="gmm", tau=0.1, reps=2, generations=10), progress=False)
    assert np.all(np.isfinite(result["kl"])) and result["cov_trace"][-1] < result["cov_trace"][0]
