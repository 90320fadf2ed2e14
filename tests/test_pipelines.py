"""mmpretrain.pipeline / mmpretrain.load on real (tiny) app models: shapes, inputs, bad input.

The models are the ones tests/test_apps.py exports (the same session directory); when this file
runs alone, the fixture trains them quickly (1 epoch, no TFLite).
"""

import os

import numpy as np
import pytest
from test_case import assert_all_close


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from app_fixtures import tiny_app_models

    built = tiny_app_models(tmp_path_factory.getbasetemp() / "mmpretrain-apps")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMPRETRAIN_SAVED_MODELS", built["output"])
        yield built


def test_text_classification_answers_in_hugging_face_shapes(models):
    import tensorflow as tf

    import mmpretrain
    from mmpretrain.export.model_dirs import app_config, resolve_model_dir

    classify = mmpretrain.pipeline("sentiment-analysis")
    names = app_config(classify.model_dir)["class_names"]
    one = classify("a few words here")
    assert isinstance(one, list) and len(one) == 1 and set(one[0]) == {"label", "score"}
    # the score is the top class's probability: the largest of a distribution that sums to 1
    every = classify("a few words here", top_k=len(names))
    assert sorted(a["label"] for a in every) == sorted(names)
    assert every[0]["label"] == one[0]["label"]
    assert one[0]["score"] == pytest.approx(every[0]["score"], abs=1e-6)
    assert sum(a["score"] for a in every) == pytest.approx(1.0, abs=1e-5)
    assert one[0]["score"] >= max(a["score"] for a in every[1:])
    texts = ["first sentence", "second one", "third"]
    many = classify(texts)
    assert len(many) == 3 and all(isinstance(a, dict) for a in many)
    ranked = classify(texts, top_k=2)
    assert [len(r) for r in ranked] == [2, 2, 2] and all(r[0]["score"] >= r[1]["score"] for r in ranked)
    assert sum(a["score"] for a in ranked[0]) == pytest.approx(1.0, abs=1e-5)
    # bytes, numpy strings, the alias and batch size 1 give the same answers (labels exactly,
    # scores within 1e-5: another batch size sums in another order)
    assert_all_close(many, classify([t.encode() for t in texts]))
    assert_all_close(many, classify(np.array(texts)))
    assert_all_close(many, mmpretrain.pipeline("text-classification", batch_size=1)(texts))
    # the same as calling the SavedModel's signature directly
    served = tf.saved_model.load(resolve_model_dir(os.path.join(models["output"], "sentiment")))
    direct = served.signatures["serving_default"](text=tf.constant(texts))
    assert [a["label"] for a in many] == [x.decode() for x in direct["label"].numpy()]
    np.testing.assert_allclose([a["score"] for a in many], direct["score"].numpy(), rtol=1e-6)


def test_image_classification_reads_paths_bytes_arrays_and_pil_images(models, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    import mmpretrain

    classify = mmpretrain.pipeline("image-classification")
    digit = (load_digits().images[5] * 255 / 16).astype(np.uint8)  # [8, 8]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    Image.fromarray(np.repeat(digit[..., None], 3, -1)).resize((24, 24)).save(tmp_path / "big.jpg")
    by_path = classify(str(tmp_path / "digit.png"))
    assert len(by_path) == 5 and all(set(a) == {"label", "score"} for a in by_path)
    assert [a["score"] for a in by_path] == sorted((a["score"] for a in by_path), reverse=True)
    by_bytes = classify((tmp_path / "digit.png").read_bytes())
    by_array = classify(digit)
    by_pil = classify(Image.open(tmp_path / "digit.png"))
    assert_all_close(by_path, by_bytes)
    assert_all_close(by_path, by_pil)
    assert by_array[0]["label"] == by_path[0]["label"]
    assert by_array[0]["score"] == pytest.approx(by_path[0]["score"], abs=1e-6)
    mixed = classify([str(tmp_path / "digit.png"), str(tmp_path / "big.jpg"), digit[..., None]], top_k=3)
    assert [len(m) for m in mixed] == [3, 3, 3]
    batch = classify(np.stack([digit, digit])[..., None], top_k=1)
    assert len(batch) == 2
    assert_all_close(batch[0], batch[1])


def test_audio_classification_reads_files_bytes_arrays_and_rates(models):
    import soundfile

    import mmpretrain

    classify = mmpretrain.pipeline("audio-classification")
    path = os.path.join(models["tones"], "low", "000.wav")
    clip, rate = soundfile.read(path, dtype="float32")
    by_path = classify(path)
    assert len(by_path) == 2 and {a["label"] for a in by_path} == {"low", "high"}
    with open(path, "rb") as f:
        assert_all_close(by_path, classify(f.read()))
    assert classify(clip)[0]["label"] == by_path[0]["label"]
    at_8k = clip[::2].copy()
    assert len(classify({"array": at_8k, "sampling_rate": 8000}, top_k=1)) == 1
    assert len(classify([clip, clip[:4000], path])) == 3


def test_feature_extraction_and_load_embed_raw_inputs(models):
    import tensorflow as tf

    import mmpretrain

    features = mmpretrain.pipeline("feature-extraction")("hello world")
    array = np.asarray(features)
    assert array.ndim == 3 and array.shape[0] == 1 and array.shape[2] == 16 and array.shape[1] >= 3
    pooled = mmpretrain.pipeline("feature-extraction", pooled=True)(["hello world", "a b"])
    assert np.asarray(pooled).shape == (2, 16)

    embed = mmpretrain.load(models["encoder"])
    vectors = embed(["hello world", "a b"])
    assert isinstance(vectors, tf.Tensor) and vectors.shape == (2, 16)
    np.testing.assert_allclose(vectors.numpy(), np.asarray(pooled), atol=1e-5)
    assert mmpretrain.load()(["hello world"]).shape == (1, 16)  # default: saved_models/mmpretrain_tiny
    images = np.random.default_rng(0).integers(0, 256, size=(3, 8, 8, 1), dtype=np.uint8)
    assert embed(images).shape == (3, 16)
    assert embed([np.zeros(8000, np.float32), np.ones(4000, np.float32) * 0.1]).shape == (2, 16)
    assert embed([os.path.join(models["tones"], "high", "001.wav")], modality="audio").shape == (1, 16)


def test_fill_mask_returns_top_k_tokens_and_sequences(models):
    import mmpretrain

    fill = mmpretrain.pipeline("fill-mask")
    answer = fill("the computer is [MASK] today", top_k=3)
    assert len(answer) == 3 and set(answer[0]) == {"score", "token", "token_str", "sequence"}
    assert answer[0]["score"] >= answer[1]["score"] >= answer[2]["score"]
    assert all("[MASK]" not in a["sequence"] and a["token_str"] in a["sequence"] for a in answer)
    assert [len(a) for a in fill(["[MASK] works", "it [mask] here"])] == [5, 5]


@pytest.mark.parametrize("make, message", [
    (lambda p, m: p("sentiment"), "Unknown task 'sentiment'. Did you mean 'sentiment-analysis'"),
    (lambda p, m: p(3), "task must be a string"),
    (lambda p, m: p("sentiment-analysis", model=os.path.join(m["root"], "nothing")), "does not exist"),
    (lambda p, m: p("sentiment-analysis", model=m["encoder"]), "is an encoder"),
    (lambda p, m: p("image-classification", model=os.path.join(m["output"], "sentiment")),
     "is a 'text-classification' model"),
    (lambda p, m: p("sentiment-analysis", batch_size=0), "batch_size must be a positive integer"),
    (lambda p, m: p("sentiment-analysis")([]), "empty list"),
    (lambda p, m: p("sentiment-analysis")(42), "received a value of type int. Accepted: a string"),
    (lambda p, m: p("sentiment-analysis")(["fine", None]), "input 1 is a value of type NoneType"),
    (lambda p, m: p("sentiment-analysis")("   "), "input 0 is an empty string"),
    (lambda p, m: p("sentiment-analysis")(b"\xff\xfe bad"), "not valid UTF-8"),
    (lambda p, m: p("sentiment-analysis")("bad \ud800 movie"), "input 0 has a character that is not valid Unicode"),
    (lambda p, m: p("fill-mask")(["a [MASK]", "\udfff [MASK]"]), "input 1 has a character that is not valid Unicode"),
    (lambda p, m: p("sentiment-analysis")("text", top_k=0), "top_k must be a positive integer"),
    (lambda p, m: p("image-classification")(os.path.join(m["root"], "no.png")), "no file at"),
    (lambda p, m: p("image-classification")(np.zeros((8, 8), np.float32)), "must be uint8"),
    (lambda p, m: p("image-classification")(b"not an image"), "Cannot read .* as an image"),
    (lambda p, m: p("audio-classification")(np.array([0.1, np.nan], np.float32)), "NaN/Inf"),
    (lambda p, m: p("audio-classification")(np.zeros(100, np.int16)), "integer PCM"),
    (lambda p, m: p("audio-classification")(np.zeros(0, np.float32)), "0 samples"),
    (lambda p, m: p("audio-classification")(b"RIFF1234WAVEjunk"), "Cannot read .* as audio"),
    (lambda p, m: p("fill-mask")("no mask here"), "has 0 \\[MASK\\] tokens"),
    (lambda p, m: p("fill-mask")("[MASK] and [MASK]"), "has 2 \\[MASK\\] tokens"),
    (lambda p, m: p("fill-mask")("a [MASK]", top_k=500), "more than the 8 candidates"),
    (lambda p, m: p("feature-extraction")(np.zeros((2, 2), np.uint8)), "Accepted: a string"),
    (lambda p, m: p("sentiment-analysis", colour="red"), "unexpected arguments \\['colour'\\]"),
])
def test_bad_input_is_a_clear_value_error(models, make, message):
    import mmpretrain

    with pytest.raises(ValueError, match=message):
        make(mmpretrain.pipeline, models)


def test_corrupt_files_and_missing_default_models_say_what_to_do(models, tmp_path, monkeypatch):
    import mmpretrain

    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ValueError, match="broken.png' as an image .*corrupt"):
        mmpretrain.pipeline("image-classification")([str(corrupt)])
    wav = tmp_path / "broken.wav"
    wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(ValueError, match="broken.wav' as audio"):
        mmpretrain.pipeline("audio-classification")(str(wav))
    with pytest.raises(ValueError, match="load\\(\\) takes the path"):
        mmpretrain.load(123)

    monkeypatch.setenv("MMPRETRAIN_SAVED_MODELS", str(tmp_path / "empty"))
    for task, command in [("sentiment-analysis", "python apps/sentiment/train.py"),
                          ("image-classification", "python apps/image_classification/train.py"),
                          ("audio-classification", "python apps/keyword_spotting/train.py"),
                          ("fill-mask", "python apps/fill_mask/export.py"),
                          ("feature-extraction", "make demo")]:
        with pytest.raises(ValueError, match=f"No default {task} model at .*Build it with: {command}"):
            mmpretrain.pipeline(task)
