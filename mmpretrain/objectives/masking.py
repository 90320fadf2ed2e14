"""Masking for one example at a time, in TF ops, with stateless seeds.

Every random choice depends only on `(seed, example_position)`, never on batch size, replica
count or worker: a one-device run and a distributed run see bit-identical masks for the same
global batches, and a resumed run re-creates the masks it would have drawn.
"""

import tensorflow as tf


def _seed(seed, salt):
    """A stateless seed [2] from an int seed pair and a salt."""
    return tf.stack([tf.cast(seed[0], tf.int64), tf.cast(seed[1], tf.int64) * 7919 + salt])


def mask_tokens(
    token_ids,
    padding_mask,
    seed,
    vocabulary_size,
    mask_id,
    num_special_tokens,
    mask_rate=0.15,
    max_predictions=20,
):
    """BERT masking of one sequence.

    Picks round(mask_rate * real tokens) positions (at least 1, at most `max_predictions`)
    among real, non-special tokens; of those, 80% become [MASK], 10% a random token, 10% stay.
    Special tokens are the ids below `num_special_tokens` ([PAD] [UNK] [CLS] [SEP] [MASK]).

    Args:
        token_ids: [L] int32. padding_mask: [L] bool. seed: [2] int (stateless seed).
    Returns:
        dict with `token_ids` [L] (corrupted), `mask_positions` [P] int32, `mask_ids` [P] int32
        (original ids) and `mask_weights` [P] float32 (1 = a real prediction), P = max_predictions.
    """
    token_ids = tf.cast(token_ids, tf.int32)
    length = tf.shape(token_ids)[0]
    candidates = tf.logical_and(tf.cast(padding_mask, tf.bool), token_ids >= num_special_tokens)  # [L]
    num_candidates = tf.reduce_sum(tf.cast(candidates, tf.int32))
    num_real = tf.reduce_sum(tf.cast(padding_mask, tf.float32))
    count = tf.cast(tf.round(mask_rate * num_real), tf.int32)
    count = tf.minimum(tf.maximum(count, 1), tf.minimum(num_candidates, max_predictions))
    # Random scores; non-candidates sort last.
    scores = tf.random.stateless_uniform([length], _seed(seed, 1))
    scores = tf.where(candidates, scores, -1.0)
    top = tf.math.top_k(scores, k=tf.minimum(length, max_predictions)).indices  # [<=P]
    top = tf.pad(top, [[0, max_predictions - tf.shape(top)[0]]])
    weights = tf.cast(tf.range(max_predictions) < count, tf.float32)  # [P]
    positions = tf.where(weights > 0, top, 0)
    original = tf.gather(token_ids, positions)
    # 80/10/10 replacement.
    action = tf.random.stateless_uniform([max_predictions], _seed(seed, 2))
    random_ids = tf.random.stateless_uniform(
        [max_predictions], _seed(seed, 3), minval=num_special_tokens, maxval=vocabulary_size, dtype=tf.int32
    )
    replacement = tf.where(action < 0.8, mask_id, tf.where(action < 0.9, random_ids, original))
    chosen = tf.boolean_mask(positions, weights > 0)
    corrupted = tf.tensor_scatter_nd_update(
        token_ids, chosen[:, None], tf.boolean_mask(replacement, weights > 0)
    )
    return {
        "token_ids": corrupted,
        "mask_positions": positions,
        "mask_ids": original * tf.cast(weights, tf.int32),
        "mask_weights": weights,
    }


def normalized_patch_targets(patches, epsilon=1e-6):
    """MAE targets: each patch normalized by its own mean and variance. [..., P] -> [..., P]."""
    mean, variance = tf.nn.moments(patches, axes=[-1], keepdims=True)
    return (patches - mean) / tf.sqrt(variance + epsilon)


def mask_patches(patches, padding_mask, seed, mask_ratio=0.75):
    """MAE random masking of one example's patches.

    A random permutation of the N patch indices (padded patches last); the first
    N_visible = max(1, round(N * (1 - mask_ratio))) are visible, the rest are predicted.
    N_visible depends only on N, so a batch of same-length examples stacks.

    Args:
        patches: [N, P] float32. padding_mask: [N] bool. seed: [2] int.
    Returns:
        dict with `patches` [Nv, P] (visible only), `positions` [Nv] int32, `padding_mask` [Nv],
        `masked_positions` [Nm] int32, `targets` [Nm, P] (per-patch normalized) and
        `target_weights` [Nm] float32 (0 for padded patches).
    """
    num_patches = tf.shape(patches)[0]
    num_visible = tf.maximum(
        1, tf.cast(tf.round(tf.cast(num_patches, tf.float32) * (1.0 - mask_ratio)), tf.int32)
    )
    noise = tf.random.stateless_uniform([num_patches], _seed(seed, 4))
    noise = tf.where(tf.cast(padding_mask, tf.bool), noise, 2.0)  # padded patches last
    order = tf.argsort(noise, stable=True)
    visible, masked = order[:num_visible], order[num_visible:]
    return {
        "patches": tf.gather(patches, visible),
        "positions": visible,
        "padding_mask": tf.gather(padding_mask, visible),
        "masked_positions": masked,
        "targets": normalized_patch_targets(tf.gather(patches, masked)),
        "target_weights": tf.cast(tf.gather(padding_mask, masked), tf.float32),
    }
