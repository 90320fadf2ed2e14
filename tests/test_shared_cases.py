"""The shared cases of tests/test_case.py over every registered modality and every layer.

The modality tests loop over the registry, so a new modality is covered without being listed
here; its raw inputs come from RAW_SAMPLES in tests/test_case.py (missing there = a failure).
"""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from test_case import (
    RAW_SAMPLES,
    raw_sample,
    run_export_test,
    run_layer_test,
    run_preprocessor_test,
    run_serialization_test,
)

from mmpretrain.modalities import embedding_class, modality_names, preprocessor_class

HIDDEN = 16
MODALITIES = modality_names()


def test_every_registered_modality_has_raw_samples():
    missing = [name for name in modality_names() if name not in RAW_SAMPLES]
    assert not missing, (
        f"registered modalities without RAW_SAMPLES in tests/test_case.py: {missing}"
    )


# === Per modality: preprocessor -> embedding layer ===


def preprocessor_of(name):
    return preprocessor_class(name)(**raw_sample(name)["preprocessor"])


def embedding_inputs(name, features):
    """The preprocessor outputs the embedding layer's call takes, by argument name."""
    parameters = inspect.signature(embedding_class(name).call).parameters
    inputs = {k: v.numpy() for k, v in features.items() if k in parameters}
    assert inputs, (
        f"{name}: no preprocessor output {sorted(features)} is an argument of {list(parameters)}"
    )
    return inputs


def embedding_case(name):
    """(embedding class, init kwargs, inputs, features) for modality `name`, hidden_dim 16."""
    sample = raw_sample(name)
    preprocessor = preprocessor_of(name)
    features = preprocessor(sample["raw"], **sample["call_kwargs"])
    init = dict(preprocessor.embedding_config(), hidden_dim=HIDDEN)
    return embedding_class(name), init, embedding_inputs(name, features), features


@pytest.mark.parametrize("name", MODALITIES)
def test_modality_embedding_layer(name):
    cls, init, inputs, features = embedding_case(name)
    batch, length = features["padding_mask"].shape
    run_layer_test(cls, init, inputs, expected_output_shape=(batch, length, HIDDEN))


@pytest.mark.parametrize("name", MODALITIES)
def test_modality_embedding_serialization(name):
    cls, init, inputs, _ = embedding_case(name)
    run_serialization_test(cls(**init), inputs)


@pytest.mark.parametrize("name", MODALITIES)
def test_modality_preprocessor(name):
    sample = raw_sample(name)
    preprocessor = preprocessor_of(name)
    out = run_preprocessor_test(preprocessor, sample["raw"], sample["call_kwargs"])
    assert out["padding_mask"].dtype == tf.bool and out["padding_mask"].shape[0] == len(
        sample["raw"]
    )
    assert out["padding_mask"].numpy().any(axis=1).all(), f"{name}: an example without a real token"
    run_serialization_test(
        preprocessor, sample["raw"], call_fn=lambda pre, raw: pre(raw, **sample["call_kwargs"])
    )


def raw_spec(value, name):
    value = np.asarray(value if not isinstance(value, list) else [v.encode() for v in value])
    dtype = tf.string if value.dtype.kind in ("S", "U", "O") else tf.as_dtype(value.dtype)
    return tf.TensorSpec([None] + list(value.shape[1:]), dtype, name=name)


def embed_function(preprocessor, layer, keys, extra):
    """One-argument endpoint: {"raw": ..., extra...} -> embeddings and padding mask."""

    def fn(x):
        features = preprocessor(x["raw"], **{k: x[k] for k in extra})
        return {
            "embeddings": layer(**{k: features[k] for k in keys}),
            "padding_mask": features["padding_mask"],
        }

    return fn


@pytest.mark.slow
def test_every_modality_exports_and_reloads_in_a_fresh_process(tmp_path):
    """Raw input -> preprocessor -> embedding layer: one signature per modality, one SavedModel."""
    signatures = {}
    for name in modality_names():
        sample = raw_sample(name)
        preprocessor = preprocessor_of(name)
        cls, init, inputs, _ = embedding_case(name)
        layer = cls(**init)
        layer(**inputs)
        fn = embed_function(preprocessor, layer, list(inputs), list(sample["call_kwargs"]))
        spec = {
            "raw": raw_spec(sample["raw"], "raw"),
            **{k: raw_spec(v, k) for k, v in sample["call_kwargs"].items()},
        }
        raw = sample["raw"]
        raw = np.array([t.encode() for t in raw]) if isinstance(raw, list) else raw
        signatures[f"serve_{name}"] = (fn, spec, {"raw": raw, **sample["call_kwargs"]})
    fresh = run_export_test(signatures, batch_size=3, tmp_dir=tmp_path)
    for name in modality_names():
        assert fresh[f"serve_{name}"]["embeddings"].shape[::2] == (3, HIDDEN)


# === The layers of mmpretrain/layers ===


def _rng():
    return np.random.default_rng(0)


def layer_cases():
    from mmpretrain.layers import (
        FeedForward,
        PatchEmbedding,
        TokenAndPositionEmbedding,
        TransformerBlock,
        TransformerDecoderBlock,
    )

    mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    block = dict(hidden_dim=HIDDEN, num_heads=2, intermediate_dim=32, dropout=0.1)
    x = _rng().normal(size=(2, 5, HIDDEN)).astype("float32")
    return {
        "TransformerBlock": (
            TransformerBlock,
            block,
            {"x": x, "padding_mask": mask},
            (2, 5, HIDDEN),
            {},
            (),
        ),
        "TransformerBlock-multiway": (
            TransformerBlock,
            dict(block, expert_names=["text", "image"]),
            {"x": x, "padding_mask": mask},
            (2, 5, HIDDEN),
            {"expert": "image"},
            ("feed_forward_text",),
        ),  # the other expert is unused
        "TransformerDecoderBlock": (
            TransformerDecoderBlock,
            block,
            {
                "decoder_tokens": x[:, :3],
                "memory": _rng().normal(size=(2, 4, HIDDEN)).astype("float32"),
                "memory_mask": mask[:, :4],
            },
            (2, 3, HIDDEN),
            {},
            (),
        ),
        "FeedForward": (
            FeedForward,
            dict(hidden_dim=HIDDEN, intermediate_dim=32, dropout=0.1),
            x,
            (2, 5, HIDDEN),
            {},
            (),
        ),
        "TokenAndPositionEmbedding": (
            TokenAndPositionEmbedding,
            dict(vocabulary_size=30, max_length=10, hidden_dim=HIDDEN),
            {
                "token_ids": _rng().integers(0, 30, size=(2, 6)).astype("int32"),
                "positions": np.array([[0, 1, 2, 3, 4, 5], [9, 7, 5, 3, 1, 0]], "int32"),
                "segment_ids": np.array([[0, 0, 0, 1, 1, 1]] * 2, "int32"),
            },
            (2, 6, HIDDEN),
            {},
            (),
        ),
        "PatchEmbedding": (
            PatchEmbedding,
            dict(patch_dim=8, max_patches=10, hidden_dim=HIDDEN),
            {
                "patches": _rng().normal(size=(2, 5, 8)).astype("float32"),
                "positions": np.array([[0, 2, 4, 6, 8], [9, 1, 3, 5, 7]], "int32"),
            },
            (2, 5, HIDDEN),
            {},
            (),
        ),
    }


def test_every_layer_of_mmpretrain_layers_has_a_case():
    import mmpretrain.layers

    covered = {case[0].__name__ for case in layer_cases().values()}
    missing = sorted(set(mmpretrain.layers.__all__) - covered)
    assert not missing, f"add a case to layer_cases() in tests/test_shared_cases.py for {missing}"


@pytest.mark.filterwarnings("ignore:Gradients do not exist:UserWarning")  # the unused expert
@pytest.mark.parametrize("case", sorted(layer_cases()))
def test_layer(case):
    cls, init, inputs, shape, call_kwargs, unchanged = layer_cases()[case]
    run_layer_test(
        cls,
        init,
        inputs,
        expected_output_shape=shape,
        call_kwargs=call_kwargs,
        expect_unchanged=unchanged,
    )


@pytest.mark.parametrize("case", sorted(layer_cases()))
def test_layer_serialization(case):
    cls, init, inputs, _, call_kwargs, _ = layer_cases()[case]

    def call(layer, data):
        if isinstance(data, dict):
            return layer(**data, **call_kwargs)
        return layer(data, **call_kwargs)

    run_serialization_test(cls(**init), inputs, call_fn=call)
