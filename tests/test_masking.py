import numpy as np
import tensorflow as tf

from mmpretrain.objectives.masking import mask_patches, mask_tokens, normalized_patch_targets

VOCAB, MASK_ID, SPECIAL = 100, 4, 5


def text_example(length=40, real=30):
    ids = np.zeros(length, np.int32)
    ids[0], ids[real - 1] = 2, 3  # [CLS] ... [SEP]
    ids[1 : real - 1] = np.arange(1, real - 1) % (VOCAB - SPECIAL) + SPECIAL
    return ids, np.arange(length) < real


def masked(seed, **kw):
    ids, pad = text_example()
    return {k: v.numpy() for k, v in mask_tokens(ids, pad, tf.constant([0, seed], tf.int64), VOCAB, MASK_ID, SPECIAL, **kw).items()}


def test_mask_tokens_picks_real_non_special_positions():
    ids, pad = text_example()
    out = masked(7, mask_rate=0.15, max_predictions=8)
    chosen = out["mask_positions"][out["mask_weights"] > 0]
    assert len(chosen) == round(0.15 * 30) == 4
    assert len(set(chosen)) == len(chosen)
    assert all(pad[p] and ids[p] >= SPECIAL for p in chosen)
    np.testing.assert_array_equal(out["mask_ids"][out["mask_weights"] > 0], ids[chosen])
    unchanged = np.setdiff1d(np.arange(40), chosen)
    np.testing.assert_array_equal(out["token_ids"][unchanged], ids[unchanged])


def test_mask_tokens_80_10_10_and_determinism():
    ids, _ = text_example()
    counts = {"mask": 0, "random": 0, "keep": 0}
    for seed in range(400):
        out = masked(seed)
        for p in out["mask_positions"][out["mask_weights"] > 0]:
            new = out["token_ids"][p]
            counts["mask" if new == MASK_ID else "keep" if new == ids[p] else "random"] += 1
    total = sum(counts.values())
    assert abs(counts["mask"] / total - 0.8) < 0.04
    assert abs(counts["random"] / total - 0.1) < 0.03
    assert abs(counts["keep"] / total - 0.1) < 0.03
    a, b, c = masked(5), masked(5), masked(6)
    np.testing.assert_array_equal(a["token_ids"], b["token_ids"])
    assert not np.array_equal(a["mask_positions"], c["mask_positions"])


def test_mask_tokens_same_in_tf_data():
    ids, pad = text_example()
    eager = masked(3)
    ds = tf.data.Dataset.from_tensors((ids, pad)).map(
        lambda i, p: mask_tokens(i, p, tf.constant([0, 3], tf.int64), VOCAB, MASK_ID, SPECIAL)
    )
    graph = next(iter(ds))
    for key in eager:
        np.testing.assert_array_equal(graph[key].numpy(), eager[key])


def test_mask_patches_visible_only_and_targets():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(16, 12)).astype(np.float32)
    pad = np.ones(16, bool)
    out = {k: v.numpy() for k, v in mask_patches(patches, pad, tf.constant([1, 2], tf.int64), 0.75).items()}
    assert out["patches"].shape == (4, 12) and out["masked_positions"].shape == (12,)
    assert sorted(np.concatenate([out["positions"], out["masked_positions"]])) == list(range(16))
    np.testing.assert_array_equal(out["patches"], patches[out["positions"]])
    np.testing.assert_allclose(out["targets"].mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(out["targets"].std(-1), 1, atol=1e-3)
    np.testing.assert_allclose(out["targets"], normalized_patch_targets(patches[out["masked_positions"]]), atol=1e-6)
    assert out["target_weights"].sum() == 12


def test_mask_patches_puts_padding_last():
    patches = np.ones((8, 4), np.float32)
    pad = np.arange(8) < 6
    out = mask_patches(patches, pad, tf.constant([0, 1], tf.int64), 0.5)
    assert out["padding_mask"].numpy().all()  # 4 visible, all real
    assert set(out["masked_positions"].numpy()[out["target_weights"].numpy() == 0]) == {6, 7}
