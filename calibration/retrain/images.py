"""Images domain: an autoregressive pixel model on scikit-learn's digits, the "MADness" analogue (docs/model.md §11).

Data: `sklearn.datasets.load_digits` (1797 8x8 images, 17 grey levels 0..16; no download). A fixed permutation
(numpy seed 0) holds out every fifth image (359) as the frozen held-out split; the other 1438 are the human train
split. That split is small, so `draw_human` draws images *with replacement* from it: a generation's human share is a
bootstrap sample of the train split, not fresh images.
Model: MADE (Germain et al. 2015) in Flax Linen over the 64 pixels in raster order, each pixel a categorical over
the 17 levels. Masked dense layers (plus masked direct input-to-output connections) make pixel k depend on pixels
< k only, so the loss is the exact NLL in one pass; sampling runs 64 sequential steps in `lax.scan`.
Metrics, in order:
- "frechet": Fréchet distance between Gaussians fitted to features of `m` model samples (tau = 1, a fixed key inside
  `evaluate`, so evaluation is deterministic) and of the held-out human images. The feature space is fixed and never
  depends on the model: the top `FEATURES` principal components of the human train split (pixels scaled to [0, 1],
  computed once with numpy). The matrix square root is an eigendecomposition of C1^{1/2} C2 C1^{1/2} in JAX.
- "perplexity": exp(held-out NLL per pixel, in nats).
"""

from __future__ import annotations

from functools import lru_cache

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from calibration.retrain.domain import Domain, Size, sample_categorical

PIXELS, LEVELS = 64, 17
HELDOUT_EVERY = 5  # every fifth image (in a fixed permutation) is held out
FEATURES = 16  # principal components of the feature space
EVAL_KEY = 20240611  # the fixed key of evaluate's model samples

IMAGE_SIZES = {
    #        hidden layers items steps batch   lr   frechet samples
    "tiny": (64, 1, 512, 200, 64, 1e-2, 128),
    "small": (128, 1, 2048, 1200, 64, 3e-3, 1024),
    "paper": (512, 2, 4096, 4000, 128, 1e-3, 4096),
}


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) int32 images of shape (n, 64), levels 0..16."""
    from sklearn.datasets import load_digits

    images = load_digits().data.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(images))
    held = np.zeros(len(images), bool)
    held[order[HELDOUT_EVERY - 1::HELDOUT_EVERY]] = True
    return images[~held], images[held]


@lru_cache(maxsize=1)
def feature_basis() -> tuple[np.ndarray, np.ndarray]:
    """(mean (64,), basis (64, FEATURES)): PCA of the human train split, pixels scaled to [0, 1]."""
    x = digits()[0] / (LEVELS - 1.0)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean.astype(np.float32), vt[:FEATURES].T.astype(np.float32)


def features(images: jax.Array) -> jax.Array:
    """(n, 64) levels -> (n, FEATURES) coordinates in the fixed PCA basis."""
    mean, basis = feature_basis()
    return (images / (LEVELS - 1.0) - mean) @ basis


def gaussian_fit(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and (n - 1)-normalized covariance of the rows of x."""
    mu = x.mean(axis=0)
    d = x - mu
    return mu, d.T @ d / (x.shape[0] - 1)


def _sqrt_psd(c: jax.Array) -> jax.Array:
    w, v = jnp.linalg.eigh((c + c.T) / 2)
    return (v * jnp.sqrt(jnp.clip(w, 0.0))) @ v.T


def frechet_distance(mu1: jax.Array, c1: jax.Array, mu2: jax.Array, c2: jax.Array) -> jax.Array:
    """|mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr (C1^{1/2} C2 C1^{1/2})^{1/2}; symmetric PSD roots by eigh, clipped at 0."""
    s1 = _sqrt_psd(c1)
    w = jnp.linalg.eigvalsh(((s1 @ c2 @ s1) + (s1 @ c2 @ s1).T) / 2)
    cross = jnp.sqrt(jnp.clip(w, 0.0)).sum()
    return jnp.maximum(jnp.sum((mu1 - mu2) ** 2) + jnp.trace(c1) + jnp.trace(c2) - 2.0 * cross, 0.0)


class MADE(nn.Module):
    """Masked autoencoder for distribution estimation: logits of pixel k from pixels 0..k-1 only (raster order)."""

    hidden: int
    layers: int

    @nn.compact
    def __call__(self, x: jax.Array, pixel: jax.Array | None = None) -> jax.Array:
        """x: (..., 64) levels. Returns (..., 64, 17) logits, or (..., 17) for one (possibly traced) `pixel`."""
        degree_in = np.arange(1, PIXELS + 1)
        degree_h = np.arange(self.hidden) % (PIXELS - 1) + 1
        h, prev = x / (LEVELS - 1.0), degree_in
        for i in range(self.layers):
            mask = (degree_h[None, :] >= prev[:, None]).astype(np.float32)
            w = self.param(f"w{i}", nn.initializers.lecun_normal(), mask.shape)
            h = nn.relu(h @ (w * mask) + self.param(f"b{i}", nn.initializers.zeros, (self.hidden,)))
            prev = degree_h
        out_mask = (degree_in[None, :] > degree_h[:, None]).astype(np.float32)  # (hidden, 64)
        direct_mask = np.tril(np.ones((PIXELS, PIXELS), np.float32), -1).T  # input i -> pixel j iff i < j
        w_out = self.param("w_out", nn.initializers.lecun_normal(), (self.hidden, PIXELS, LEVELS))
        w_dir = self.param("w_direct", nn.initializers.zeros, (PIXELS, PIXELS, LEVELS))
        bias = self.param("b_out", nn.initializers.zeros, (PIXELS, LEVELS))
        z = x / (LEVELS - 1.0)
        if pixel is None:
            return (jnp.einsum("...h,hpl->...pl", h, w_out * out_mask[..., None])
                    + jnp.einsum("...i,ipl->...pl", z, w_dir * direct_mask[..., None]) + bias)
        return (h @ (w_out[:, pixel] * jnp.asarray(out_mask)[:, pixel, None])
                + z @ (w_dir[:, pixel] * jnp.asarray(direct_mask)[:, pixel, None]) + bias[pixel])


def images_domain(size: Size) -> Domain:
    hidden, layers, items, steps, batch, lr, m = IMAGE_SIZES[size]
    train_np, held_np = digits()
    train_images, heldout = jnp.asarray(train_np), jnp.asarray(held_np)
    ref_mu, ref_cov = (jnp.asarray(a) for a in gaussian_fit(np.asarray(features(held_np))))
    model = MADE(hidden, layers)

    def draw_human(key, n):
        return train_images[jax.random.randint(key, (n,), 0, train_images.shape[0])]

    def init(key):
        return model.init(key, jnp.zeros((1, PIXELS), jnp.int32))

    def nll(params, images):
        logp = jax.nn.log_softmax(model.apply(params, images))
        return -jnp.take_along_axis(logp, images[..., None], axis=-1)[..., 0]

    def loss(params, images):
        return nll(params, images).mean()

    def sample(key, params, n, tau):
        def step(x, inputs):
            k, pixel = inputs
            v = sample_categorical(k, model.apply(params, x, pixel), tau)
            return x.at[:, pixel].set(v), None

        x, _ = jax.lax.scan(step, jnp.zeros((n, PIXELS), jnp.int32),
                            (jax.random.split(key, PIXELS), jnp.arange(PIXELS)))
        return x

    def evaluate(params):
        mu, cov = gaussian_fit(features(sample(jax.random.PRNGKey(EVAL_KEY), params, m, 1.0)))
        return {"frechet": frechet_distance(mu, cov, ref_mu, ref_cov),
                "perplexity": jnp.exp(nll(params, heldout).mean())}

    return Domain(
        name="images", metrics=("frechet", "perplexity"), items_per_generation=items, draw_human=draw_human,
        init=init, loss=loss, sample=sample, evaluate=evaluate, steps=steps, batch=batch, learning_rate=lr,
        description=f"MADE ({layers}x{hidden} hidden) over 64 pixels x 17 levels on sklearn digits; {items} "
                    f"images per generation drawn with replacement from {len(train_np)} train images",
        info={"train_images": len(train_np), "heldout_images": len(held_np), "features": FEATURES,
              "frechet_samples": m},
    )


def marginal_perplexity() -> float:
    """Held-out perplexity per pixel of the train split's per-pixel level histograms (add-one): the floor to beat."""
    train_np, held_np = digits()
    counts = np.stack([np.bincount(train_np[:, j], minlength=LEVELS) for j in range(PIXELS)]) + 1.0
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(np.exp(-logp[np.arange(PIXELS)[None, :], held_np].mean()))
