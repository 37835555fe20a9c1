"""The images and recsys retraining domains (docs/model.md §11) at tiny size: data and sample shapes, learning beats a
simple baseline computed here, temperature behaves (tau -> 0 is the mode, tau = 1 the model's own law), and the
metric functions (Fréchet distance, Gini, tail exposure) match independent references.

Monte-Carlo checks use Pearson's chi-square over cells with expected count >= 5 (the rest lumped into one cell),
against the chi-square quantile at 1 - 1e-6 for its degrees of freedom: a correct sampler fails with probability 1e-6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.stats import chi2

from calibration.retrain.domain import train
from calibration.retrain.images import (
    IMAGE_SIZES,
    LEVELS,
    MADE,
    PIXELS,
    digits,
    features,
    frechet_distance,
    gaussian_fit,
    images_domain,
)
from calibration.retrain.recsys import (
    RECSYS_SIZES,
    Factorization,
    gini,
    long_tail,
    organic_heldout,
    recsys_domain,
    softmax_np,
    world,
)


def assert_law(draws: np.ndarray, probs: np.ndarray) -> None:
    """The draws (category ids) are consistent with the law `probs` by a chi-square test at level 1e-6."""
    n = draws.size
    observed = np.bincount(draws, minlength=probs.size).astype(float)
    expected = n * probs
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    stat = ((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()
    assert stat < chi2.ppf(1 - 1e-6, max(1, keep.sum() - 1)), (stat, keep.sum())


def fit(domain, seed=0):
    data = domain.draw_human(jax.random.PRNGKey(seed), domain.items_per_generation)
    params, loss = jax.jit(lambda k, d: train(domain, k, d, d.shape[0]))(jax.random.PRNGKey(seed + 1), data)
    return params, np.asarray(data), float(loss)


# ---------------------------------------------------------------- images


@pytest.fixture(scope="module")
def images():
    domain = images_domain("tiny")
    params, data, loss = fit(domain)
    evaluate = jax.jit(domain.evaluate)
    hidden, layers, *_ = IMAGE_SIZES["tiny"]
    return domain, params, data, loss, evaluate, MADE(hidden, layers)


def test_images_shapes_and_split():
    train_np, held_np = digits()
    assert len(train_np) + len(held_np) == 1797 and len(held_np) == 1797 // 5
    assert not {r.tobytes() for r in held_np} <= {r.tobytes() for r in train_np}
    domain = images_domain("tiny")
    x = domain.draw_human(jax.random.PRNGKey(0), 10)
    s = domain.sample(jax.random.PRNGKey(1), domain.init(jax.random.PRNGKey(2)), 7, 1.0)
    for arr, n in ((x, 10), (s, 7)):
        assert arr.shape == (n, PIXELS) and arr.dtype == jnp.int32
        assert 0 <= int(arr.min()) and int(arr.max()) < LEVELS
    assert domain.metrics == ("frechet", "perplexity")


def test_images_training_beats_the_pixel_marginals(images):
    domain, params, data, loss, evaluate, _ = images
    train_np, held_np = digits()
    counts = np.stack([np.bincount(train_np[:, j], minlength=LEVELS) for j in range(PIXELS)]) + 1.0
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    baseline = np.exp(-logp[np.arange(PIXELS), held_np].mean())
    trained = evaluate(params)
    untrained = evaluate(domain.init(jax.random.PRNGKey(5)))
    assert list(trained) == ["frechet", "perplexity"]
    assert float(trained["perplexity"]) < 0.95 * baseline < float(untrained["perplexity"])
    assert float(trained["frechet"]) < 0.5 * float(untrained["frechet"])
    assert np.isfinite(loss)


def test_images_model_is_autoregressive(images):
    _, params, data, _, _, model = images
    x = jnp.asarray(data[:1])
    for k in (0, 17, 63):
        bumped = x.at[0, k].set((x[0, k] + 5) % LEVELS)
        same = np.asarray(model.apply(params, x)[0, : k + 1]) == np.asarray(model.apply(params, bumped)[0, : k + 1])
        assert same.all()  # pixel j's logits see only pixels < j
    full = np.asarray(model.apply(params, x)[0])
    for j in (0, 30, 63):  # the sampler's one-pixel path gives the same logits as the full pass
        np.testing.assert_allclose(model.apply(params, x, j)[0], full[j], rtol=1e-5, atol=1e-5)


def test_images_cold_sampling_is_greedy_decoding(images):
    domain, params, _, _, _, model = images
    cold = np.asarray(domain.sample(jax.random.PRNGKey(3), params, 32, 1e-4))
    warm = np.asarray(domain.sample(jax.random.PRNGKey(3), params, 32, 1.0))
    assert (cold == cold[0]).all()  # every sample is the same image
    greedy = np.asarray(model.apply(params, jnp.asarray(cold[:1]))[0].argmax(-1))
    assert (greedy == cold[0]).all()  # ... and it is the argmax path
    assert len({r.tobytes() for r in warm}) > 16


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_images_one_decision_follows_softmax_over_tau(images, tau):
    domain, params, *_ = images
    # the first pixel of digits is always blank; give it a diverse law (the trained logits of a central pixel)
    params = jax.tree.map(lambda a: a, params)
    bias = params["params"]["b_out"]
    params["params"]["b_out"] = bias.at[0].set(bias[36])
    n = 4000
    first = np.asarray(domain.sample(jax.random.PRNGKey(4), params, n, tau)[:, 0])
    assert_law(first, np.asarray(jax.nn.softmax(bias[36] / tau), float))


def test_images_evaluate_is_deterministic(images):
    domain, params, _, _, evaluate, _ = images
    a, b = evaluate(params), evaluate(jax.tree.map(jnp.copy, params))
    assert all(float(a[k]) == float(b[k]) for k in a)


def test_frechet_distance_against_closed_form():
    train_np, held_np = digits()
    h = gaussian_fit(features(jnp.asarray(held_np)))
    t = gaussian_fit(features(jnp.asarray(train_np)))
    scale = float(jnp.trace(h[1]))
    assert float(frechet_distance(*h, *h)) < 1e-4 * scale
    assert abs(float(frechet_distance(*h, *t)) - float(frechet_distance(*t, *h))) < 1e-4 * scale
    assert float(frechet_distance(*h, *t)) < 0.05 * scale  # the two human splits look alike in feature space

    rng = np.random.default_rng(0)
    cases = []
    for _ in range(3):
        a, b = rng.normal(size=(2, 6, 6))
        c1, c2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
        mu1, mu2 = rng.normal(size=(2, 6))
        ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * np.real(sqrtm(c1 @ c2)))
        cases.append((mu1, c1, mu2, c2, ref))
    stacked = [jnp.asarray(np.stack(z), jnp.float32) for z in zip(*[c[:4] for c in cases])]
    batched = np.asarray(jax.vmap(frechet_distance)(*stacked))
    for (mu1, c1, mu2, c2, ref), got in zip(cases, batched):
        single = float(frechet_distance(*(jnp.asarray(z, jnp.float32) for z in (mu1, c1, mu2, c2))))
        np.testing.assert_allclose([single, got], ref, rtol=2e-3)


# ---------------------------------------------------------------- recsys


@pytest.fixture(scope="module")
def recsys():
    domain = recsys_domain("tiny")
    params, data, loss = fit(domain)
    users, items, taste, embed, *_ = RECSYS_SIZES["tiny"]
    return domain, params, data, loss, Factorization(users, items, embed), world(users, items, taste)


def test_recsys_shapes():
    domain = recsys_domain("tiny")
    users, items, *_ = RECSYS_SIZES["tiny"]
    params = domain.init(jax.random.PRNGKey(0))
    for arr in (domain.draw_human(jax.random.PRNGKey(1), 33), domain.sample(jax.random.PRNGKey(2), params, 33, 0.8)):
        assert arr.shape == (33, 2) and arr.dtype == jnp.int32
        assert 0 <= int(arr[:, 0].min()) and int(arr[:, 0].max()) < users
        assert 0 <= int(arr[:, 1].min()) and int(arr[:, 1].max()) < items
    assert domain.metrics == ("concentration", "tail_coverage", "perplexity")


def test_recsys_human_draws_follow_the_world(recsys):
    domain, *_, truth = recsys
    pairs = np.asarray(domain.draw_human(jax.random.PRNGKey(6), 100_000))
    assert_law(pairs[:, 0], np.full(truth.shape[0], 1.0 / truth.shape[0]))
    assert_law(pairs[pairs[:, 0] == 3, 1], softmax_np(truth[3].astype(float)))
    held = organic_heldout(truth, 100_000)  # the frozen held-out split follows the same law
    assert_law(held[:, 0], np.full(truth.shape[0], 1.0 / truth.shape[0]))
    assert_law(held[held[:, 0] == 3, 1], softmax_np(truth[3].astype(float)))


def test_recsys_training_beats_global_popularity(recsys):
    domain, params, data, loss, model, truth = recsys
    n_heldout = RECSYS_SIZES["tiny"][-1]
    held = organic_heldout(truth, n_heldout)
    popularity = np.bincount(data[:, 1], minlength=truth.shape[1]) + 1.0
    baseline = np.exp(-np.log(popularity / popularity.sum())[held[:, 1]].mean())
    metrics = domain.evaluate(params)
    untrained = domain.evaluate(domain.init(jax.random.PRNGKey(5)))
    assert list(metrics) == ["concentration", "tail_coverage", "perplexity"]
    logp = np.asarray(jax.nn.log_softmax(model.apply(params, jnp.arange(truth.shape[0]))), float)
    np.testing.assert_allclose(float(metrics["perplexity"]), np.exp(-logp[held[:, 0], held[:, 1]].mean()), rtol=1e-4)
    assert float(metrics["perplexity"]) < 0.9 * baseline < float(untrained["perplexity"])
    assert np.isfinite(loss)


def test_recsys_exposure_metrics(recsys):
    domain, params, _, _, model, truth = recsys
    exposure = np.exp(np.asarray(jax.nn.log_softmax(model.apply(params, jnp.arange(truth.shape[0]))), float)).mean(0)
    tail = long_tail(truth)
    assert tail.sum() == truth.shape[1] - round(0.2 * truth.shape[1])
    assert softmax_np(truth).mean(0)[tail].max() <= softmax_np(truth).mean(0)[~tail].min()
    metrics = domain.evaluate(params)
    np.testing.assert_allclose(float(metrics["tail_coverage"]), exposure[tail].sum(), rtol=1e-4)
    mean_abs_diff = np.abs(exposure[:, None] - exposure[None, :]).sum() / (2 * exposure.size * exposure.sum())
    np.testing.assert_allclose(float(metrics["concentration"]), mean_abs_diff, rtol=1e-3)
    assert 0 < float(metrics["concentration"]) < 1 and 0 < float(metrics["tail_coverage"]) < 1


def test_gini_extremes():
    n = 80
    assert abs(float(gini(jnp.ones(n)))) < 1e-6
    one_hot = jnp.zeros(n).at[17].set(1.0)
    np.testing.assert_allclose(float(gini(one_hot)), (n - 1) / n, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.vmap(gini)(jnp.stack([jnp.ones(n), one_hot]))), [0, (n - 1) / n],
                               atol=1e-6)


def test_recsys_temperature(recsys):
    domain, params, _, _, model, truth = recsys
    cold = np.asarray(domain.sample(jax.random.PRNGKey(7), params, 3000, 1e-4))
    logits = np.asarray(model.apply(params, jnp.arange(truth.shape[0])), float)
    assert (cold[:, 1] == logits.argmax(1)[cold[:, 0]]).all()  # each user always gets the same, top item
    warm = np.asarray(domain.sample(jax.random.PRNGKey(8), params, 100_000, 1.0))
    assert_law(warm[warm[:, 0] == 3, 1], softmax_np(logits[3]))
    hot = np.asarray(domain.sample(jax.random.PRNGKey(9), params, 100_000, 0.5))
    assert_law(hot[hot[:, 0] == 3, 1], softmax_np(logits[3] / 0.5))


def test_recsys_evaluate_is_deterministic(recsys):
    domain, params, *_ = recsys
    a, b = domain.evaluate(params), domain.evaluate(params)
    assert all(float(a[k]) == float(b[k]) for k in a)
