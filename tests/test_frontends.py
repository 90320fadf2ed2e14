"""Raw inputs -> real preprocessors -> the shared backbone, for every registered modality."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY

from mmpretrain.backbone import MultimodalBackbone
from mmpretrain.modalities import modality_names, preprocessor_class
from mmpretrain.modalities.text import TextPreprocessor, learn_vocabulary

SENTENCES = [
    "the cat sat on the mat", "a dog ran in the park", "birds sing in the morning",
    "the sun rises over the hills", "rain falls on the quiet town", "children play in the garden",
] * 5


@pytest.fixture(scope="module")
def preprocessors():
    text = TextPreprocessor(learn_vocabulary(SENTENCES, vocabulary_size=120, min_count=1), sequence_length=16)
    image = preprocessor_class("image")(image_size=16, patch_size=4, channels=3)
    audio = preprocessor_class("audio")(patch_frequency=16, patch_time=8, max_seconds=4.0)
    return {"text": text, "image": image, "audio": audio}


@pytest.fixture(scope="module")
def backbone(preprocessors):
    return MultimodalBackbone(
        modalities={m: p.embedding_config() for m, p in preprocessors.items()}, **TINY
    )


def raw_inputs(modality, batch, variant, rng):
    if modality == "text":
        words = SENTENCES[0].split() * (1 if variant == 0 else 4)
        return [" ".join(words[: 3 + i * (2 + variant * 5)]) for i in range(batch)]
    if modality == "image":
        size = (12, 20) if variant == 0 else (40, 33)
        return rng.integers(0, 256, size=(batch, *size, 3), dtype=np.uint8)
    seconds = 0.5 if variant == 0 else 3.0
    return tf.constant(rng.normal(scale=0.1, size=(batch, int(seconds * 16000))).astype(np.float32))


def test_every_registered_modality_has_a_front_end(preprocessors):
    assert set(modality_names()) == set(preprocessors)


@pytest.mark.parametrize("modality", ["text", "image", "audio"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("variant", [0, 1])
def test_forward_pass_from_raw_inputs(preprocessors, backbone, modality, batch, variant):
    rng = np.random.default_rng(batch * 10 + variant)
    features = preprocessors[modality](raw_inputs(modality, batch, variant, rng))
    out = backbone(features, modality=modality)
    length = features["padding_mask"].shape[1]
    assert out["sequence_output"].shape == (batch, length, TINY["hidden_dim"])
    assert out["pooled_output"].shape == (batch, TINY["hidden_dim"])
    assert np.isfinite(out["pooled_output"].numpy()).all()


def test_audio_lengths_change_the_number_of_patches(preprocessors):
    audio = preprocessors["audio"]
    short = audio(np.zeros((1, 8000), np.float32) + 0.01)["patches"].shape[1]
    long = audio(np.zeros((1, 48000), np.float32) + 0.01)["patches"].shape[1]
    assert short < long
