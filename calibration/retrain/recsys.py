"""Recommendation domain: a popularity-feedback recommender (docs/model.md §11).

World: a synthetic but frozen "human" interaction law, built once with numpy from a fixed seed. U users and I items;
item i has a Zipf-like popularity bias b_i = -ZIPF log(1 + i), and users and items have rank-`taste` factors u, v
with u.v of standard deviation TASTE. Organic behaviour: a uniform user picks an item from
p(i | u) = softmax_i(b_i + u.v_i). An item of this domain is one interaction, the int32 pair (user, item).
The long tail is the items outside the top 20% by true exposure E_u p(i | u); a frozen held-out split of organic
interactions (numpy, another seed) scores the models.
Model: matrix factorization in Flax Linen, logits(u, i) = c_i + x_u.y_i, trained by softmax cross-entropy over all
items. Its synthetic data are recommender-induced interactions: a uniform user, item ~ softmax(logits / tau).
Metrics, in order, all at tau = 1 and all continuous and > 0 (so their logs exist):
- "concentration": Gini coefficient of the model's exposure over items, exposure_i = mean over all users of
  softmax(logits_u)_i (the share of recommendations item i gets when every user is served by the model).
- "tail_coverage": the exposure mass on long-tail items, sum of exposure_i over the tail. We use the mass rather
  than the count of tail items reaching some top-10 list: a top-k count is a step function and is blind to the
  sharpening (logit scaling) that tau < 1 feeds back, while the mass moves with it and never hits 0.
- "perplexity": exp(held-out NLL per interaction) of the organic held-out split.
"""

from __future__ import annotations

from functools import lru_cache

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from calibration.retrain.domain import Domain, Size, sample_categorical

ZIPF = 1.0  # popularity exponent of the item bias
TASTE = 1.5  # standard deviation of the taste term u.v
HEAD = 0.2  # share of items (by true exposure) outside the long tail
CHUNK = 4096  # users per block when drawing items (bounds the (users, items) logits held at once)
WORLD_SEED, HELDOUT_SEED = 7, 8

RECSYS_SIZES = {
    #        users items taste embed  items/gen steps batch  lr  heldout
    "tiny": (50, 80, 4, 8, 2048, 300, 128, 2e-2, 2000),
    "small": (500, 1000, 8, 16, 131072, 1000, 512, 1e-2, 20000),
    "paper": (5000, 10000, 16, 64, 262144, 20000, 1024, 3e-3, 200000),
}


@lru_cache(maxsize=4)
def world(users: int, items: int, taste: int) -> np.ndarray:
    """The true logits table (users, items), float32: b_i + u.v_i."""
    rng = np.random.default_rng(WORLD_SEED)
    u = rng.normal(size=(users, taste))
    v = rng.normal(size=(items, taste))
    bias = -ZIPF * np.log1p(np.arange(items))
    return (bias + TASTE / np.sqrt(taste) * u @ v.T).astype(np.float32)


def softmax_np(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def organic_heldout(logits: np.ndarray, n: int) -> np.ndarray:
    """n frozen organic interactions (n, 2): uniform users, items by inverse CDF of p(i | u)."""
    rng = np.random.default_rng(HELDOUT_SEED)
    n_users, n_items = logits.shape
    users = rng.integers(0, n_users, n)
    # row u's CDF shifted by u makes one increasing array: one searchsorted serves every user
    cdf = (np.cumsum(softmax_np(logits.astype(np.float64)), axis=1) + np.arange(n_users)[:, None]).ravel()
    items = np.searchsorted(cdf, rng.random(n) + users, side="right") - users * n_items
    return np.stack([users, np.clip(items, 0, n_items - 1)], axis=1).astype(np.int32)


def long_tail(logits: np.ndarray) -> np.ndarray:
    """Boolean (items,): outside the top HEAD share of items by true exposure."""
    order = np.argsort(-softmax_np(logits).mean(axis=0))
    tail = np.ones(logits.shape[1], bool)
    tail[order[: int(round(HEAD * logits.shape[1]))]] = False
    return tail


def gini(exposure: jax.Array) -> jax.Array:
    """Gini coefficient of a nonnegative vector: 0 when uniform, (I - 1) / I when one item takes everything."""
    e = jnp.sort(exposure)
    i = e.shape[-1]
    ranks = jnp.arange(1, i + 1)
    return 2.0 * jnp.sum(ranks * e) / (i * jnp.sum(e)) - (i + 1.0) / i


class Factorization(nn.Module):
    """logits(u, .) = c + Y x_u: an item bias plus user and item embeddings."""

    users: int
    items: int
    embed: int

    @nn.compact
    def __call__(self, users: jax.Array) -> jax.Array:
        x = nn.Embed(self.users, self.embed, name="user")(users)
        y = self.param("item", nn.initializers.normal(0.1), (self.items, self.embed))
        c = self.param("bias", nn.initializers.zeros, (self.items,))
        return x @ y.T + c


def recsys_domain(size: Size) -> Domain:
    n_users, n_items, taste, embed, per_generation, steps, batch, lr, n_heldout = RECSYS_SIZES[size]
    true_np = world(n_users, n_items, taste)
    true_logits = jnp.asarray(true_np)
    heldout = jnp.asarray(organic_heldout(true_np, n_heldout))
    tail = jnp.asarray(long_tail(true_np))
    model = Factorization(n_users, n_items, embed)
    all_users = jnp.arange(n_users)

    def draw_items(key, users, logits_of, tau):
        """item ~ softmax(logits_of(user) / tau) for each user, CHUNK users at a time."""
        keys = jax.random.split(key, users.shape[0])
        return jax.lax.map(lambda a: sample_categorical(a[1], logits_of(a[0]), tau), (users, keys),
                           batch_size=min(CHUNK, users.shape[0]))

    def draw_human(key, n):
        k_u, k_i = jax.random.split(key)
        users = jax.random.randint(k_u, (n,), 0, n_users)
        return jnp.stack([users, draw_items(k_i, users, lambda u: true_logits[u], 1.0)], axis=1).astype(jnp.int32)

    def init(key):
        return model.init(key, jnp.zeros((1,), jnp.int32))

    def loss(params, pairs):
        logp = jax.nn.log_softmax(model.apply(params, pairs[:, 0]))
        return -jnp.take_along_axis(logp, pairs[:, 1:], axis=-1).mean()

    def sample(key, params, n, tau):
        k_u, k_i = jax.random.split(key)
        users = jax.random.randint(k_u, (n,), 0, n_users)
        items = draw_items(k_i, users, lambda u: model.apply(params, u), tau)
        return jnp.stack([users, items], axis=1).astype(jnp.int32)

    def evaluate(params):
        logp = jax.nn.log_softmax(model.apply(params, all_users))
        exposure = jnp.exp(logp).mean(axis=0)
        return {"concentration": gini(exposure),
                "tail_coverage": jnp.sum(jnp.where(tail, exposure, 0.0)),
                "perplexity": jnp.exp(-logp[heldout[:, 0], heldout[:, 1]].mean())}

    true_exposure = softmax_np(true_np).mean(axis=0)
    return Domain(
        name="recsys", metrics=("concentration", "tail_coverage", "perplexity"), items_per_generation=per_generation,
        draw_human=draw_human, init=init, loss=loss, sample=sample, evaluate=evaluate, steps=steps, batch=batch,
        learning_rate=lr,
        description=f"matrix factorization (embed {embed}) over {n_users} users x {n_items} items; "
                    f"{per_generation} interactions per generation",
        info={"users": n_users, "items": n_items, "heldout_interactions": n_heldout,
              "true_concentration": float(gini(jnp.asarray(true_exposure))),
              "true_tail_coverage": float(true_exposure[np.asarray(tail)].sum())},
    )
