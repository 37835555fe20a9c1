"""The grid solver of the N → ∞ generative distribution (docs/model.md §9) and its W2 (ott-jax), against references.

References: the Gaussian closed forms of `meanfield.gaussian` (§9(a)), the Bures W2, the 1-D W2 of Gaussians,
an exact linear program, and exact identities of the chains at tau = 1.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meanfield.gaussian import gaussian_trajectory
from meanfield.grid import (
    GridSpec,
    fokker_planck_flow,
    gaussian_mixture_log_masses,
    gaussian_mixture_masses,
    geometric_mixture,
    grid_trajectory,
    kl,
    moments,
    potential,
    retrain,
    safe_log,
    temper,
)
from meanfield.transport import w2_1d, w2_cloud, w2_grid
from sdce.dataworld.metrics import w2_gaussian
from sdce.errors import SinkhornNotConverged

INF = math.inf
RHO, TAU, GENERATIONS = 0.6, 0.8, 6


def f64(x):
    return np.asarray(x, np.float64)


def gaussian(grid, mean, cov):
    return gaussian_mixture_masses(grid, [1.0], jnp.asarray(mean)[None], jnp.asarray(cov)[None])


def two_modes(grid, sd=0.6):
    """p: two Gaussians at ±2 on the first axis, sd 0.6, as normalised log masses."""
    d = grid.dim
    means = jnp.zeros((2, d)).at[:, 0].set(jnp.array([-2.0, 2.0]))
    cov = sd**2 * jnp.eye(d)
    return gaussian_mixture_log_masses(grid, [0.5, 0.5], means, jnp.stack([cov, cov]))


def test_gridspec_geometry():
    grid = GridSpec(2, 8, 2.0)
    assert grid.spacing == 0.5 and grid.shape == (8, 8) and hash(grid) == hash(GridSpec(2, 8, 2.0))
    np.testing.assert_allclose(grid.axes[0], -1.75 + 0.5 * np.arange(8))
    # C order: axis 0 slowest, so points.reshape matches masses[i, j] = cell (x_i, y_j)
    np.testing.assert_allclose(grid.points.reshape(8, 8, 2)[3, 5], [grid.axes[0][3], grid.axes[1][5]])
    with pytest.raises(ValueError):
        GridSpec(3, 8, 2.0)


def _closed_form_case(dim, n, train_time):
    """The wgf grid chain and the closed form, discretised on the grid, for p = N(0, I), q0 shifted, anisotropic."""
    grid = GridSpec(dim, n, 6.0)
    mean0 = jnp.array([1.0, -0.5][:dim])
    cov0 = jnp.array([[1.5, 0.4], [0.4, 0.6]])[:dim, :dim]
    log_p = gaussian_mixture_log_masses(grid, [1.0], jnp.zeros((1, dim)), jnp.eye(dim)[None])
    qs = grid_trajectory(gaussian(grid, mean0, cov0), log_p, RHO, TAU, GENERATIONS, "wgf", train_time, grid)
    means, covs = gaussian_trajectory(mean0, cov0, jnp.zeros(dim), jnp.eye(dim), RHO, TAU, GENERATIONS, rule="wgf",
                                      train_time=train_time)
    ref = jax.vmap(lambda m, c: gaussian(grid, m, c))(means, covs)
    return grid, qs, ref, means, covs


def _moment_errors(grid, qs, ref):
    pairs = [(moments(f64(q), grid), moments(f64(r), grid)) for q, r in zip(qs, ref)]
    return (max(np.abs(mq - mr).max() for (mq, _), (mr, _) in pairs),
            max(np.abs(cq - cr).max() for (_, cq), (_, cr) in pairs))


@pytest.mark.parametrize("train_time", [0.5, INF])
def test_wgf_grid_chain_matches_gaussian_closed_form_2d(train_time):
    """Theorem 3 on the grid vs the OU/geometric-mixture closed form (§9(a)), rho 0.6, tau 0.8, 6 generations.

    Compared with the closed-form Gaussian discretised on the same grid (64 cells per axis on [-6, 6]², h = 0.19).
    At train_time = inf the grid chain is exactly the discretised closed form (tempering and geometric mixtures of
    discretised Gaussians are discretised Gaussians): moments within 1e-5 (measured 3e-7), W2 at the Sinkhorn
    noise floor. At train_time = 0.5 the finite-volume flow is O(h²) off: W2 ≤ 3e-3 (measured ≤ 1e-3), means and
    covariances within 2e-3 (measured 7e-4, 3e-4).
    """
    grid, qs, ref, _, _ = _closed_form_case(2, 64, train_time)
    mean_err, cov_err = _moment_errors(grid, qs, ref)
    w2 = np.array([w2_grid(q, r, grid) for q, r in zip(qs, ref)])  # one compiled shape for every 2-D test
    if math.isfinite(train_time):
        assert mean_err < 2e-3 and cov_err < 2e-3
        assert np.all(w2 < 3e-3)
    else:
        assert mean_err < 1e-5 and cov_err < 1e-5
        assert np.all(w2 < 1e-3)
    # the chain moves: generation 6 is far from q0 in W2 (so the tolerances above are not vacuous)
    assert w2_grid(qs[-1], qs[0], grid) > 0.5


@pytest.mark.parametrize("train_time", [0.5, INF])
def test_wgf_grid_chain_matches_gaussian_closed_form_1d(train_time):
    """Same in d = 1 on 128 cells, with the exact quantile W2: ≤ 2e-3 at train_time 0.5 (measured 4e-4), ≤ 1e-5 at
    inf (measured 0); moments within 2e-3 (measured 1e-4, 5e-4) and 1e-5 (measured 2e-7)."""
    grid, qs, ref, _, _ = _closed_form_case(1, 128, train_time)
    mean_err, cov_err = _moment_errors(grid, qs, ref)
    w2 = [float(w2_1d(f64(q), f64(r), grid)) for q, r in zip(qs, ref)]
    tol_w2, tol_moments = (2e-3, 2e-3) if math.isfinite(train_time) else (1e-5, 1e-5)
    assert max(w2) < tol_w2
    assert mean_err < tol_moments and cov_err < tol_moments


@pytest.mark.slow
@pytest.mark.parametrize("train_time", [0.5, INF])
def test_wgf_grid_chain_matches_gaussian_closed_form_2d_fine(train_time):
    """At the default resolution (128 per axis): W2 ≤ 1.5e-3 (measured ≤ 6e-4), moments within 1e-3 of the discretised
    closed form (measured 1.3e-4, 2.5e-4), and within 1.5e-3 of the raw closed form (domain truncation: 6e-4)."""
    grid, qs, ref, means, covs = _closed_form_case(2, 128, train_time)
    mean_err, cov_err = _moment_errors(grid, qs, ref)
    assert mean_err < 1e-3 and cov_err < 1e-3
    for q, m, c in zip(qs, means, covs):
        mq, cq = moments(f64(q), grid)
        assert np.abs(mq - f64(m)).max() < 1.5e-3 and np.abs(cq - f64(c)).max() < 1.5e-3
    assert np.all(w2_grid(qs, ref, grid) < 1.5e-3)


def test_w2_grid_matches_bures_closed_form():
    """Debiased Sinkhorn (eps 0.1) on ott's Grid vs the Bures W2 between the continuous Gaussians: |error| ≤ 1e-3
    (measured 2e-4, the same at 64 and 128 cells per axis). The correlated covariances check the axis order."""
    grid = GridSpec(2, 64, 6.0)
    m1, c1 = np.array([1.0, -0.5]), np.array([[1.5, 0.4], [0.4, 0.6]])
    pairs = [(np.array([0.0, 0.3]), np.array([[0.7, -0.2], [-0.2, 1.1]])), (np.array([-1.5, 1.0]), np.eye(2))]
    a = gaussian(grid, m1, c1)
    b = [gaussian(grid, m, c) for m, c in pairs]
    got = [w2_grid(a, q, grid) for q in b]
    want = [float(w2_gaussian(m1, c1, m, c)) for m, c in pairs]
    np.testing.assert_allclose(got, want, atol=1e-3)
    # the transpose of the second density is a different density: the axis order is seen
    swapped = float(w2_gaussian(m1, c1, pairs[0][0][::-1], pairs[0][1][::-1, ::-1]))
    assert abs(w2_grid(a, b[0].T, grid) - swapped) < 1e-3 and abs(swapped - want[0]) > 0.1


@pytest.mark.slow
def test_w2_grid_matches_bures_closed_form_fine():
    grid = GridSpec(2, 128, 6.0)
    m1, c1, m2, c2 = np.array([1.0, -0.5]), np.array([[1.5, 0.4], [0.4, 0.6]]), np.array([0.0, 0.3]), \
        np.array([[0.7, -0.2], [-0.2, 1.1]])
    got = w2_grid(gaussian(grid, m1, c1), gaussian(grid, m2, c2), grid)
    assert got == pytest.approx(float(w2_gaussian(m1, c1, m2, c2)), abs=1e-3)


def test_w2_1d_exact_against_gaussian_closed_form_and_a_linear_program():
    """w2_1d (piecewise-constant densities) vs sqrt((m1-m2)² + (s1-s2)²) on 1024 cells: ≤ 1e-4 (measured 5e-6). With
    atoms=True, against scipy's exact LP on 48 cells: ≤ 1e-6; and w2_grid vs w2_1d on a two-mode mixture vs its
    tempered version and vs a Gaussian: ≤ 1.5e-3 (measured 7e-5, 6e-4)."""
    from scipy.optimize import linprog
    from scipy.sparse import eye, kron, vstack

    fine = GridSpec(1, 1024, 10.0)  # wide enough that truncating N(-0.9, 1.3²) costs < 1e-5
    cases = [((0.0, 1.0), (0.0, math.sqrt(0.6))), ((0.3, 0.8), (-0.9, 1.3)), ((0.0, 1.0), (0.5, 1.0))]
    for (m1, s1), (m2, s2) in cases:
        a = gaussian(fine, np.array([m1]), np.array([[s1**2]]))
        b = gaussian(fine, np.array([m2]), np.array([[s2**2]]))
        assert float(w2_1d(f64(a), f64(b), fine)) == pytest.approx(math.hypot(m1 - m2, s1 - s2), abs=1e-4)

    small = GridSpec(1, 48, 6.0)
    a = f64(jnp.exp(two_modes(small)))
    b = f64(gaussian(small, np.array([0.4]), np.array([[1.7]])))
    a, b = a / a.sum(), b / b.sum()
    x = small.axes[0].astype(np.float64)
    n = small.n
    constraints = vstack([kron(eye(n), np.ones((1, n))), kron(np.ones((1, n)), eye(n))])
    lp = linprog(((x[:, None] - x[None, :]) ** 2).ravel(), A_eq=constraints, b_eq=np.concatenate([a, b]),
                 bounds=(0, None), method="highs")
    assert float(w2_1d(a, b, small, atoms=True)) == pytest.approx(math.sqrt(lp.fun), abs=1e-6)
    assert float(w2_1d(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), small, atoms=True)) == \
        pytest.approx(math.sqrt(lp.fun), abs=1e-4)

    grid = GridSpec(1, 128, 6.0)
    p = jnp.exp(two_modes(grid))
    qs = jnp.stack([temper(p, 0.6), gaussian(grid, np.array([0.3]), np.array([[1.4]]))])
    got = w2_grid(jnp.stack([p, p]), qs, grid)  # a batch: on CPU one pair after another
    np.testing.assert_allclose(got, [float(w2_1d(f64(p), f64(q), grid)) for q in qs], atol=1.5e-3)


def test_w2_grid_agrees_with_weighted_clouds_despite_empty_cells():
    """The same two 2-D grid densities as weighted point clouds (ott PointCloud) and on ott's Grid: the same S_eps
    (to 1e-4). Narrow components leave hundreds of cells at mass 0 in float32, where ott 0.6's Grid kernel is
    mis-applied (unfloored, this pair stalls at W2 ≈ 4.18 instead of 6.50); `w2_grid` floors the masses."""
    grid = GridSpec(2, 24, 6.0)
    a = gaussian_mixture_masses(grid, [0.7, 0.3], np.array([[3.5, 3.5], [-1.0, 0.5]]),
                                np.array([0.04 * np.eye(2), [[1.0, 0.3], [0.3, 0.5]]]))
    b = gaussian_mixture_masses(grid, [0.5, 0.5], np.array([[-3.0, -2.0], [1.0, -3.5]]),
                                np.array([0.09 * np.eye(2), 0.06 * np.eye(2)]))
    assert int(jnp.sum(b == 0)) > 100
    cloud = w2_cloud(grid.points, grid.points, 0.1, a=a, b=b)
    assert cloud == pytest.approx(w2_grid(a, b, grid), abs=1e-4)
    assert cloud > 6.0


def test_non_converged_sinkhorn_raises():
    """A tiny epsilon with a 10-iteration cap cannot converge: an error naming epsilon, never a number."""
    grid = GridSpec(1, 128, 6.0)
    a, b = gaussian(grid, np.array([-2.0]), np.eye(1)), gaussian(grid, np.array([2.0]), np.eye(1))
    with pytest.raises(SinkhornNotConverged, match="epsilon=0.0001"):
        w2_grid(a, b, grid, epsilon=1e-4, max_iterations=10)
    # the same pairs converge at the defaults (batched, both pairs in one vmapped chunk)
    np.testing.assert_allclose(w2_grid(jnp.stack([a, a]), jnp.stack([a, b]), grid, batch_size=2), [0.0, 4.0],
                               atol=1e-3)


@pytest.mark.slow
def test_non_converged_cloud_sinkhorn_raises():
    grid = GridSpec(1, 128, 6.0)
    a, b = gaussian(grid, np.array([-2.0]), np.eye(1)), gaussian(grid, np.array([2.0]), np.eye(1))
    with pytest.raises(SinkhornNotConverged, match="epsilon=0.0001"):
        w2_cloud(grid.points, grid.points, 1e-4, a=a, b=b, max_iterations=10)


def test_flow_conserves_mass_stays_positive_and_decreases_v():
    """Along the flow (8) towards pi ∝ p^(1-rho) q̃^rho (two-mode p, tempered Gaussian source), observed every 0.05 in
    time: mass is 1 to float32 precision, masses are positive, V (eq. 9) never increases (to 1e-6, float32 rounding),
    V = KL(q‖pi) - log Z, and q approaches pi."""
    grid = GridSpec(2, 128, 6.0)
    log_p = two_modes(grid)
    q = gaussian(grid, np.array([1.0, 1.5]), np.array([[0.5, 0.2], [0.2, 0.9]]))
    source = temper(q, TAU)
    log_src = safe_log(source)
    log_pi = geometric_mixture(log_p, log_src, RHO)
    log_z = float(jax.scipy.special.logsumexp((1 - RHO) * log_p + RHO * log_src))
    values = [float(potential(f64(q), f64(log_p), f64(log_src), RHO))]
    for _ in range(30):
        q = fokker_planck_flow(q, log_pi, 0.05, grid)
        assert abs(float(jnp.sum(q)) - 1.0) < 1e-5
        assert float(jnp.min(q)) > 0.0
        values.append(float(potential(f64(q), f64(log_p), f64(log_src), RHO)))
        assert values[-1] == pytest.approx(float(kl(f64(q), np.exp(f64(log_pi)))) - log_z, abs=1e-5)
    assert np.all(np.diff(values) <= 1e-6)
    assert values[0] - values[-1] > 0.5
    assert float(kl(f64(q), np.exp(f64(log_pi)))) < 0.05 * (values[0] + log_z)
    # the semigroup: one flow of 1.5 ends where 30 flows of 0.05 do
    once = fokker_planck_flow(gaussian(grid, np.array([1.0, 1.5]), np.array([[0.5, 0.2], [0.2, 0.9]])), log_pi, 1.5,
                              grid)
    assert float(jnp.abs(once - q).sum()) < 1e-3


def test_flow_towards_an_unresolved_target_is_nan_not_wrong():
    """pi narrower than a cell (sd 0.05, h 0.375) would need more than MAX_FLOW_STEPS Euler steps: NaN, flagged, where
    an int32 step count would overflow and leave q nearly unmoved. A resolved target gives finite masses."""
    grid = GridSpec(1, 32, 6.0)
    q0 = gaussian(grid, np.array([1.0]), np.eye(1))
    sharp = gaussian_mixture_log_masses(grid, [1.0], np.zeros((1, 1)), np.array([[[0.05**2]]]))
    assert bool(jnp.all(jnp.isnan(fokker_planck_flow(q0, sharp, 0.5, grid))))
    smooth = gaussian_mixture_log_masses(grid, [1.0], np.zeros((1, 1)), np.array([[[0.5**2]]]))
    assert bool(jnp.all(jnp.isfinite(fokker_planck_flow(q0, smooth, 0.5, grid))))
    # at rho = 1 the human p (with empty cells, log 0 = -inf) drops out: no 0 × inf
    p = jnp.exp(sharp)
    assert int(jnp.sum(p == 0)) > 0
    out = retrain(q0, jnp.log(p), temper(q0, 0.8), 1.0, "wgf", INF, grid)
    np.testing.assert_allclose(out, temper(q0, 0.8), atol=1e-6)


@pytest.fixture(scope="module")
def mixture_world():
    grid = GridSpec(2, 128, 6.0)
    log_p = two_modes(grid)
    return grid, log_p, jnp.exp(log_p)


def test_tau_one_fixed_points_on_a_mixture(mixture_world):
    """At tau = 1 nothing collapses (docs/model.md §9): the mle chain leaves p invariant and contracts to it exactly,
    ‖q_t - p‖₁ = rho^t ‖q_0 - p‖₁; the wgf chain started at p stays at p (finite and infinite train time); run to
    convergence, from q_0 it gives q_t ∝ p^(1 - rho^t) q_0^(rho^t)."""
    grid, log_p, p = mixture_world
    for rule, train_time in [("mle", INF), ("wgf", INF), ("wgf", 0.5)]:
        qs = grid_trajectory(p, log_p, RHO, 1.0, GENERATIONS, rule, train_time, grid)
        assert float(jnp.abs(qs - p).sum(axis=(1, 2)).max()) < 1e-5, (rule, train_time)
    q0 = gaussian(grid, np.array([0.5, 0.5]), 2.0 * np.eye(2))
    qs = f64(grid_trajectory(q0, log_p, RHO, 1.0, GENERATIONS, "mle", INF, grid))
    dist = np.abs(qs - f64(p)).sum(axis=(1, 2))
    np.testing.assert_allclose(dist, RHO ** np.arange(GENERATIONS + 1) * dist[0], rtol=1e-4)
    qs = f64(grid_trajectory(q0, log_p, RHO, 1.0, GENERATIONS, "wgf", INF, grid))
    for t in range(GENERATIONS + 1):
        logq = (1 - RHO**t) * f64(log_p) + RHO**t * np.log(f64(q0))
        want = np.exp(logq - logq.max())
        assert np.abs(qs[t] - want / want.sum()).sum() < 1e-4
    assert np.abs(qs[0] - f64(p)).sum() > 0.5 and np.abs(qs[-1] - f64(p)).sum() < 0.1


@pytest.mark.parametrize("rule,train_time", [("mle", INF), ("wgf", INF), ("wgf", 0.5)])
def test_tau_below_one_collapses_a_mixture(mixture_world, rule, train_time):
    """tau = 0.8 from q_0 = p: mass conserved and positive; KL(q_t‖p) increases every generation, total variance
    shrinks, and the chain loses mass between the modes (|x1| < 1) and in the tails (|x1| > 3)."""
    grid, log_p, p = mixture_world
    qs = f64(grid_trajectory(p, log_p, RHO, TAU, 8, rule, train_time, grid))
    assert np.abs(qs.sum(axis=(1, 2)) - 1).max() < 1e-5 and qs.min() >= 0.0
    x1 = grid.points[:, 0].reshape(grid.shape)
    kls = np.array([float(kl(q, f64(p))) for q in qs])
    variance = np.array([np.trace(moments(q, grid)[1]) for q in qs])
    between = qs[:, np.abs(x1) < 1].sum(axis=1)
    tails = qs[:, np.abs(x1) > 3].sum(axis=1)
    assert np.all(np.diff(kls) > 0) and kls[-1] > 0.03
    assert np.all(np.diff(variance) < 0)
    assert np.all(np.diff(between) < 0) and between[-1] < 0.75 * between[0]
    assert np.all(np.diff(tails) < 0) and tails[-1] < 0.75 * tails[0]


def test_retrain_vmaps_over_trainers(mixture_world):
    """Three trainers at different rho from different models, one shared tempered source: the batched call equals
    the per-trainer calls, and `mle` is the arithmetic mixture."""
    grid, log_p, p = mixture_world
    q_prev = jnp.stack([gaussian(grid, np.array([m, 0.0]), s * np.eye(2)) for m, s in [(0.0, 1.0), (1.0, 0.5),
                                                                                       (-1.5, 2.0)]])
    rho = jnp.array([0.1, 0.5, 0.9])
    source = temper(q_prev[0], TAU)
    for rule, train_time in [("wgf", 0.3), ("wgf", INF), ("mle", INF)]:
        batched = retrain(q_prev, log_p, source, rho, rule, train_time, grid)
        assert batched.shape == (3, *grid.shape)
        for j in range(3):
            one = retrain(q_prev[j], log_p, source, rho[j], rule, train_time, grid)
            np.testing.assert_allclose(batched[j], one, rtol=1e-5, atol=1e-9)
        if rule == "mle":
            np.testing.assert_allclose(batched[2], 0.1 * p + 0.9 * source, rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError):
        retrain(q_prev[0], log_p, source, 0.5, "em", INF, grid)
