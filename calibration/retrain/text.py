"""Text domain: a character-level language model on English that ships with Python (docs/model.md §11).

Corpus: `pydoc_data.topics` (the Python reference manual's topic texts). The text is cut into blocks of 1000
characters; every tenth block is the frozen held-out split. Characters outside printable ASCII map to one symbol.
Model: a neural n-gram model in Flax Linen (Bengio et al. 2003): embeddings of the previous `context` characters,
concatenated, a tanh hidden layer, and a softmax over the vocabulary. An item is a chunk of `chunk` characters; the
model predicts every character of a chunk from its left context, padded at the chunk start, and generates chunks
the same way. The metric is held-out perplexity per character, exp(mean NLL).
"""

from __future__ import annotations

from functools import lru_cache

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from calibration.retrain.domain import Domain, Size, sample_categorical

BLOCK = 1000  # characters per split block
HELDOUT_EVERY = 10  # every tenth block is held out
PAD = 0  # the token before a chunk's first character

TEXT_SIZES = {
    #        chunk context embed hidden  items steps batch   lr   heldout chunks
    "tiny": (32, 3, 8, 32, 1024, 150, 32, 1e-2, 32),
    "small": (64, 10, 16, 128, 2048, 900, 32, 3e-3, 256),
    "paper": (128, 32, 64, 1024, 8192, 20000, 256, 1e-3, 2048),
}


@lru_cache(maxsize=1)
def corpus() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(train ids, held-out ids, vocabulary); id 0 is the chunk-start pad, the last id stands for non-ASCII."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    text = "".join(c if (" " <= c <= "~" or c == "\n") else "\x7f" for c in text)
    vocab = ("<pad>", *sorted(set(text)))
    lookup = np.zeros(128, dtype=np.int32)
    for i, c in enumerate(vocab[1:], start=1):
        lookup[ord(c)] = i
    ids = lookup[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    blocks = np.arange(len(ids)) // BLOCK
    held = blocks % HELDOUT_EVERY == HELDOUT_EVERY - 1
    return ids[~held], ids[held], vocab


class CharMLP(nn.Module):
    """p(x_k | x_{k-context..k-1}) = softmax(W2 tanh(W1 [e(x_{k-context}); ...; e(x_{k-1})]))."""

    vocab: int
    embed: int
    hidden: int

    @nn.compact
    def __call__(self, context: jax.Array) -> jax.Array:
        e = nn.Embed(self.vocab, self.embed)(context)
        h = jnp.tanh(nn.Dense(self.hidden)(e.reshape(*context.shape[:-1], -1)))
        return nn.Dense(self.vocab)(h)


def windows(chunks: jax.Array, context: int) -> jax.Array:
    """(B, C) chunks -> (B, C, context): the left context of each character, padded at the chunk start."""
    padded = jnp.pad(chunks, ((0, 0), (context, 0)), constant_values=PAD)
    idx = jnp.arange(chunks.shape[1])[:, None] + jnp.arange(context)[None, :]
    return padded[:, idx]


def text_domain(size: Size) -> Domain:
    chunk, context, embed, hidden, items, steps, batch, lr, n_heldout = TEXT_SIZES[size]
    train_ids, held_ids, vocab = corpus()
    train_ids, held_ids = jnp.asarray(train_ids), jnp.asarray(held_ids)
    heldout = held_ids[: n_heldout * chunk].reshape(n_heldout, chunk)
    model = CharMLP(len(vocab), embed, hidden)

    def draw_human(key, n):
        starts = jax.random.randint(key, (n,), 0, train_ids.shape[0] - chunk)
        return train_ids[starts[:, None] + jnp.arange(chunk)[None, :]]

    def init(key):
        return model.init(key, jnp.zeros((1, context), jnp.int32))

    def nll(params, chunks):
        logits = model.apply(params, windows(chunks, context))
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), chunks[..., None], axis=-1)[..., 0]

    def loss(params, chunks):
        return nll(params, chunks).mean()

    def sample(key, params, n, tau):
        def step(ctx, k):
            logits = model.apply(params, ctx)
            nxt = sample_categorical(k, logits.at[:, PAD].set(-jnp.inf), tau)
            return jnp.concatenate([ctx[:, 1:], nxt[:, None]], axis=1), nxt

        _, out = jax.lax.scan(step, jnp.full((n, context), PAD, jnp.int32), jax.random.split(key, chunk))
        return out.T

    def evaluate(params):
        return {"perplexity": jnp.exp(nll(params, heldout).mean())}

    return Domain(
        name="text", metrics=("perplexity",), items_per_generation=items, draw_human=draw_human, init=init,
        loss=loss, sample=sample, evaluate=evaluate, steps=steps, batch=batch, learning_rate=lr,
        description=f"char n-gram MLP (context {context}, hidden {hidden}) on pydoc_data.topics; "
                    f"{items} chunks of {chunk} chars per generation",
        info={"vocab": len(vocab), "chunk": chunk, "heldout_chars": int(heldout.size)},
    )


def unigram_perplexity(size: Size) -> float:
    """Held-out perplexity of the training split's character frequencies (add-one smoothed): the floor to beat."""
    chunk, *_, n_heldout = TEXT_SIZES[size]
    train_ids, held_ids, vocab = corpus()
    counts = np.bincount(train_ids, minlength=len(vocab))[1:] + 1.0
    logp = np.concatenate([[-np.inf], np.log(counts / counts.sum())])
    return float(np.exp(-logp[held_ids[: n_heldout * chunk]].mean()))
