import keras
import numpy as np
import pytest

from mmpretrain.layers import (
    PatchEmbedding,
    TokenAndPositionEmbedding,
    TransformerBlock,
    TransformerDecoderBlock,
)


def reference_attention(x, block):
    """softmax(QK^T/sqrt(d_k))V computed by hand from the block's own weights (no mask)."""
    mha = block.attention
    q = np.einsum("bnd,dhk->bnhk", x, mha.query_dense.kernel.numpy()) + mha.query_dense.bias.numpy()
    k = np.einsum("bnd,dhk->bnhk", x, mha.key_dense.kernel.numpy()) + mha.key_dense.bias.numpy()
    v = np.einsum("bnd,dhk->bnhk", x, mha.value_dense.kernel.numpy()) + mha.value_dense.bias.numpy()
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    probs = scores / scores.sum(-1, keepdims=True)
    heads = np.einsum("bhqs,bshk->bqhk", probs, v)
    return np.einsum("bqhk,hkd->bqd", heads, mha.output_dense.kernel.numpy()) + mha.output_dense.bias.numpy()


def test_transformer_block_is_pre_layernorm_attention_then_feed_forward():
    block = TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    y = block(x).numpy()
    h = x + reference_attention(block.attention_norm(x).numpy(), block)
    expected = h + block.feed_forwards["shared"](block.feed_forward_norm(h)).numpy()
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_padding_mask_hides_padded_keys():
    block = TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 6, 8)).astype("float32")
    mask = np.array([[True, True, True, True, False, False]])
    y1 = block(x, padding_mask=mask).numpy()
    x2 = x.copy()
    x2[:, 4:] = rng.normal(size=(1, 2, 8))  # change only padded tokens
    y2 = block(x2, padding_mask=mask).numpy()
    np.testing.assert_allclose(y1[:, :4], y2[:, :4], atol=1e-6)


def test_multiway_block_routes_feed_forward_per_expert():
    block = TransformerBlock(8, 2, 16, expert_names=["text", "image"])
    x = np.random.default_rng(2).normal(size=(2, 3, 8)).astype("float32")
    assert not np.allclose(block(x, expert="text").numpy(), block(x, expert="image").numpy())
    with pytest.raises(ValueError, match="Unknown expert 'audio'"):
        block(x, expert="audio")


def test_decoder_block_matches_its_formula():
    layer = TransformerDecoderBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    memory = rng.normal(size=(2, 5, 8)).astype("float32")
    out = layer(x, memory).numpy()
    attended = layer.cross_attention(layer.query_norm(x), memory, memory).numpy()
    h = layer.cross_attention_norm(attended + x).numpy()
    expected = h + layer.feed_forward(layer.feed_forward_norm(h)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out.shape == (2, 3, 8)
    # Padded memory tokens do not matter.
    mask = np.array([[True] * 3 + [False] * 2] * 2)
    memory2 = memory.copy()
    memory2[:, 3:] += 5.0
    np.testing.assert_allclose(
        layer(x, memory, memory_mask=mask).numpy(), layer(x, memory2, memory_mask=mask).numpy(), atol=1e-5
    )


@pytest.mark.parametrize(
    "layer, args, kwargs",
    [
        (
            TransformerBlock(8, 2, 16, expert_names=["a", "b"], dropout=0.1),
            [np.ones((2, 3, 8), "float32")],
            {"expert": "b"},
        ),
        (TransformerDecoderBlock(8, 2, 16), [np.ones((2, 3, 8), "float32"), np.ones((2, 4, 8), "float32")], {}),
        (TokenAndPositionEmbedding(30, 10, 8), [np.ones((2, 4), "int32")], {}),
        (PatchEmbedding(12, 10, 8), [np.ones((2, 4, 12), "float32")], {}),
    ],
)
def test_layer_config_round_trip(layer, args, kwargs):
    expected = layer(*args, **kwargs).numpy()
    clone = layer.__class__.from_config(layer.get_config())
    clone(*args, **kwargs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(*args, **kwargs).numpy(), expected, atol=1e-6)
    assert clone.get_config() == layer.get_config()


def test_embeddings_take_a_subset_of_positions():
    layer = PatchEmbedding(patch_dim=4, max_patches=6, hidden_dim=8)
    patches = np.random.default_rng(4).normal(size=(1, 6, 4)).astype("float32")
    full = layer(patches).numpy()
    keep = np.array([[5, 1, 3]])
    subset = layer(patches[:, [5, 1, 3]], positions=keep).numpy()
    np.testing.assert_allclose(subset, full[:, [5, 1, 3]], atol=1e-6)


def test_too_many_positions_is_a_clear_error():
    with pytest.raises(ValueError, match="at most 10"):
        TokenAndPositionEmbedding(30, 10, 8)(np.ones((1, 11), "int32"))
    with pytest.raises(ValueError, match="patch_dim"):
        PatchEmbedding(12, 10, 8)(np.ones((1, 3, 5), "float32"))


def test_block_rejects_bad_head_count():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransformerBlock(hidden_dim=10, num_heads=3, intermediate_dim=16)
    assert keras.saving.get_registered_object("mmpretrain>TransformerBlock") is TransformerBlock
