"""mmpretrain.tasks on a tiny real encoder: every task's config round-trips, and they take raw batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from app_fixtures import tiny_encoder

    run_dir, encoder_dir = tiny_encoder(tmp_path_factory.getbasetemp() / "mmpretrain-apps")
    return {"run": run_dir, "encoder": encoder_dir}


def round_trip(model, safe_mode=True):
    """serialize -> deserialize by the registered name (`mmpretrain>Classifier`, ...)."""
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model), safe_mode=safe_mode)


def sample_batch(encoder_dir, modality):
    from mmpretrain.export.model_dirs import encoder_preprocessor
    from mmpretrain.modalities import get_modality

    return get_modality(modality).sample_batch(encoder_preprocessor(encoder_dir, modality))


@pytest.mark.parametrize("modality", ["text", "image", "audio"])
def test_classifier_round_trips_its_config_and_takes_raw_batches(tiny, modality):
    from mmpretrain.modalities.modality import batch_size, signature_arguments
    from mmpretrain.tasks import Classifier, load_encoder

    model = Classifier(load_encoder(tiny["encoder"], modality), num_classes=3, dropout=0.2)
    # The config names the encoder SavedModel; Keras reloads one outside safe mode only.
    with pytest.raises(ValueError, match="safe_mode"):
        round_trip(model)
    again = round_trip(model, safe_mode=False)
    assert type(again) is Classifier and again.get_config() == model.get_config()
    assert again.encoder.signature == f"serve_{modality}" and (again.num_classes, again.dropout) == (3, 0.2)
    batch = sample_batch(tiny["encoder"], modality)
    logits = model(signature_arguments(batch))
    assert logits.shape == (batch_size(batch), 3)
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(signature_arguments(batch), verbose=0), logits.numpy(), atol=1e-5)


def test_classifier_compile_defaults_are_adam_cross_entropy_and_accuracy(tiny):
    from mmpretrain.tasks import Classifier, load_encoder

    model = Classifier(load_encoder(tiny["encoder"], "text"), num_classes=2)
    model.compile(learning_rate=3e-4)
    assert type(model.optimizer) is keras.optimizers.Adam
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-4)
    model.compile(learning_rate=3e-4, weight_decay=0.01)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert float(model.optimizer.weight_decay) == pytest.approx(0.01)
    model.compile(learning_rate=3e-4)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    history = model.fit(tf.constant(["good film", "bad film"] * 4), tf.constant([1, 0] * 4), epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[])
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        Classifier(model.encoder, num_classes=1)


def test_text_embedder_round_trips_and_checks_inputs_like_the_pipelines(tiny):
    from mmpretrain.tasks import TextEmbedder, load_encoder

    embedder = TextEmbedder(load_encoder(tiny["encoder"], "text", trainable=False))
    texts = ["hello world", "a b", b"bytes too"]
    vectors = embedder.embed(texts, batch_size=2)
    assert vectors.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = round_trip(embedder, safe_mode=False)
    assert type(again) is TextEmbedder and again.get_config() == embedder.get_config()
    np.testing.assert_allclose(again.embed(texts), vectors, atol=1e-5)
    raw = TextEmbedder(embedder.encoder, normalize=False)
    assert not np.allclose(np.linalg.norm(raw.embed(texts), axis=1), 1.0)
    with pytest.raises(ValueError, match="search: input 1 is a value of type NoneType"):
        embedder.embed(["fine", None], what="search")
    with pytest.raises(ValueError, match="input 0 has a character that is not valid Unicode"):
        embedder.embed("bad \ud800 movie")
    images = TextEmbedder(load_encoder(tiny["encoder"], "image", trainable=False))
    rng = np.random.default_rng(0)
    sizes = [rng.integers(0, 256, size=(8, 8, 1), dtype=np.uint8), rng.integers(0, 256, size=(12, 10), dtype=np.uint8)]
    assert images.modality == "image" and images.embed(sizes).shape == (2, 16)


def test_fill_mask_round_trips_its_config(tiny):
    from mmpretrain.tasks import FillMask

    fill = FillMask.from_run(tiny["run"], top_k=4)
    again = round_trip(fill)  # backbone + preprocessor config: no external files, safe mode is fine
    assert type(again) is FillMask and again.get_config() == fill.get_config()
    again.set_weights(fill.get_weights())
    texts = tf.constant(["the computer is [MASK] today", "[MASK] works"])
    want, got = fill(texts), again(texts)
    assert want["token_ids"].shape == (2, 4) and want["mask_count"].numpy().tolist() == [1, 1]
    np.testing.assert_array_equal(got["token_ids"].numpy(), want["token_ids"].numpy())
    np.testing.assert_allclose(got["scores"].numpy(), want["scores"].numpy(), atol=1e-6)
