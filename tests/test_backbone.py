import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, TINY_MODALITIES, make_backbone

from mmpretrain.backbone import MultimodalBackbone


def sample_inputs(modality, batch=2, length=5, seed=0):
    rng = np.random.default_rng(seed)
    if modality == "text":
        return {
            "token_ids": rng.integers(0, 40, size=(batch, length)).astype("int32"),
            "padding_mask": np.ones((batch, length), bool),
        }
    dim = TINY_MODALITIES[modality]["patch_dim"]
    return {
        "patches": rng.normal(size=(batch, length, dim)).astype("float32"),
        "padding_mask": np.ones((batch, length), bool),
    }


def block_variables(backbone):
    return [v for block in backbone.blocks for v in block.weights]


@pytest.mark.parametrize("sharing", ["full", "multiway"])
def test_adding_a_modality_adds_only_its_front_end(sharing):
    text_only = make_backbone(("text",), sharing="full")
    everything = make_backbone(("text", "image", "audio"), sharing="full")
    extra = everything.count_params() - text_only.count_params()
    front_ends = sum(everything.embedders[m].count_params() for m in ("image", "audio"))
    assert extra == front_ends
    # Every modality's forward pass reads the very same block variables.
    backbone = make_backbone(sharing=sharing)
    shared = {id(v) for v in block_variables(backbone)}
    for modality in ("text", "image", "audio"):
        with tf.GradientTape() as tape:
            out = backbone(sample_inputs(modality), modality=modality)
            loss = tf.reduce_sum(out["pooled_output"] * tf.range(TINY["hidden_dim"], dtype="float32"))
        grads = tape.gradient(loss, block_variables(backbone))
        used = {id(v) for v, g in zip(block_variables(backbone), grads) if g is not None}
        attention = {id(v) for b in backbone.blocks for v in b.attention.weights}
        assert attention <= used <= shared
        if sharing == "full":
            assert used == shared


def test_multiway_has_one_feed_forward_expert_per_modality():
    full = make_backbone(sharing="full")
    multiway = make_backbone(sharing="multiway")
    ffn = sum(v.numpy().size for v in full.blocks[0].feed_forwards["shared"].weights)
    assert multiway.count_params() - full.count_params() == 2 * ffn * TINY["num_layers"]
    assert sorted(multiway.blocks[0].feed_forwards) == ["audio", "image", "text"]


@pytest.mark.parametrize("sharing", ["full", "multiway"])
def test_a_text_step_changes_what_the_image_path_uses(sharing):
    backbone = make_backbone(sharing=sharing)
    image = sample_inputs("image", seed=1)
    before_image = backbone(image, modality="image")["pooled_output"].numpy()
    # The key bias is the one attention weight softmax is invariant to (its gradient is 0).
    attention = [v for b in backbone.blocks for v in b.attention.weights if "key" not in v.path]
    before_attention = [v.numpy() for v in attention]
    optimizer = keras.optimizers.SGD(0.1)
    text = sample_inputs("text", seed=2)
    with tf.GradientTape() as tape:
        # (A sum of squares would be nearly constant after the final LayerNorm.)
        direction = np.random.default_rng(3).normal(size=(TINY["hidden_dim"],)).astype("float32")
        loss = tf.reduce_sum(backbone(text, modality="text")["pooled_output"] * direction)
    grads = tape.gradient(loss, backbone.trainable_variables)
    optimizer.apply(
        [g for g in grads if g is not None], [v for g, v in zip(grads, backbone.trainable_variables) if g is not None]
    )
    after_attention = [v.numpy() for v in attention]
    assert all(not np.allclose(a, b) for a, b in zip(before_attention, after_attention))
    after_image = backbone(image, modality="image")["pooled_output"].numpy()
    assert np.abs(after_image - before_image).max() > 1e-4


@pytest.mark.parametrize("modality", ["text", "image", "audio"])
@pytest.mark.parametrize("batch, length", [(1, 3), (4, 9)])
def test_forward_shapes(modality, batch, length):
    backbone = make_backbone()
    out = backbone(sample_inputs(modality, batch, length), modality=modality)
    assert out["sequence_output"].shape == (batch, length, TINY["hidden_dim"])
    assert out["pooled_output"].shape == (batch, TINY["hidden_dim"])


def test_pooling_ignores_padding():
    backbone = make_backbone()
    inputs = sample_inputs("text", batch=1, length=6)
    inputs["padding_mask"][:, 4:] = False
    short = {"token_ids": inputs["token_ids"][:, :4], "padding_mask": inputs["padding_mask"][:, :4]}
    np.testing.assert_allclose(
        backbone(inputs, modality="text")["pooled_output"].numpy(),
        backbone(short, modality="text")["pooled_output"].numpy(),
        atol=1e-5,
    )


@pytest.mark.parametrize("sharing", ["full", "multiway"])
def test_keras_file_and_config_round_trip(sharing, tmp_path):
    backbone = make_backbone(sharing=sharing)
    expected = {m: backbone(sample_inputs(m), modality=m)["pooled_output"].numpy() for m in TINY_MODALITIES}
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, MultimodalBackbone)
    assert restored.get_config() == backbone.get_config()
    clone = MultimodalBackbone.from_config(backbone.get_config())
    clone.set_weights(backbone.get_weights())
    for m in TINY_MODALITIES:
        for model in (restored, clone):
            np.testing.assert_allclose(
                model(sample_inputs(m), modality=m)["pooled_output"].numpy(), expected[m], atol=1e-6
            )


def test_modality_model_shares_the_backbone_layers():
    backbone = make_backbone()
    model = backbone.modality_model("image")
    inputs = sample_inputs("image", seed=5)
    np.testing.assert_allclose(
        model(inputs)["pooled_output"].numpy(), backbone(inputs, modality="image")["pooled_output"].numpy(), atol=1e-6
    )
    assert {id(v) for v in model.weights} <= {id(v) for v in backbone.weights}


def test_presets_and_bad_names():
    backbone = MultimodalBackbone.from_preset("tiny", modalities={"text": TINY_MODALITIES["text"]})
    assert backbone.hidden_dim == 64 and backbone.num_layers == 2
    with pytest.raises(ValueError, match="Unknown preset 'huge'.*small"):
        MultimodalBackbone.from_preset("huge", modalities={"text": TINY_MODALITIES["text"]})
    with pytest.raises(ValueError, match="Unknown modality 'smell'.*audio"):
        MultimodalBackbone(modalities={"smell": {}}, **TINY)
    with pytest.raises(ValueError, match="Unknown sharing mode"):
        make_backbone(sharing="partial")
    backbone = make_backbone(("text",))
    with pytest.raises(ValueError, match="no modality 'image'"):
        backbone(sample_inputs("image"), modality="image")
