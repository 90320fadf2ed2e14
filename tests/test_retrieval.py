"""Cross-modal alignment: the emoji triples, the aligner's losses and geometry, retrieval metrics, the app.

The emoji are the real Noto Color Emoji renders and Unicode names (Debian packages), the speech
real espeak-ng / flite output; the trunk is the app tests' tiny run (2 layers, width 16).
"""

import numpy as np
import pytest


def test_variant_key_groups_skin_tone_and_gender_variants():
    from mmpretrain.data.sources.emoji import spoken_caption, variant_key

    assert variant_key("waving hand: medium skin tone") == variant_key("waving hand") == "waving hand"
    assert variant_key("woman technologist") == variant_key("man technologist: dark skin tone") == "technologist"
    assert variant_key("family: man, woman, boy") == variant_key("family: woman, girl") == "family"
    assert variant_key("kiss: woman, man") == variant_key("kiss: medium skin tone") == "kiss"
    assert variant_key("woman") == variant_key("man") == variant_key("person") == "person"
    assert variant_key("flag: Germany") != variant_key("flag: France")
    assert variant_key("mantelpiece clock") == "mantelpiece clock"  # "man" only as a word
    assert spoken_caption("keycap: #") == "keycap, number sign"


@pytest.fixture(scope="module")
def emoji():
    from mmpretrain.data.sources.emoji import load_emoji

    return load_emoji(image_size=32, speech=True, limit=240, progress=False)


def test_emoji_triples_are_real_renders_split_by_variant(emoji):
    from mmpretrain.data.sources.emoji import variant_key

    assert sum(emoji.counts[s] for s in ("train", "validation", "test")) == 240
    keys = {s: {variant_key(e.name) for e in emoji.emoji[s]} for s in ("train", "validation", "test")}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    for split in ("train", "test"):
        images = emoji.images[split]
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
        # A glyph is drawn on the white canvas: every image has non-white pixels and white corners.
        assert (images.reshape(len(images), -1, 3).min(axis=(1, 2)) < 200).all()
        assert (images[:, 0, 0] == 255).all()
        assert len(emoji.clips[split]) == len(emoji.captions[split])
        assert all(c.dtype == np.float32 and len(c) > 1600 for c in emoji.clips[split])
    assert emoji.captions["train"][0] == emoji.emoji["train"][0].name
    assert set(emoji.groups["train"]) <= set(emoji.group_names)
    # The voices of the test split are never heard in training.
    assert not set(emoji.voices["train"]) & set(emoji.voices["test"])


def test_render_variations_are_seeded_and_vary():
    from mmpretrain.data.sources.emoji import render_rgba, render_variations

    glyphs = np.stack([render_rgba("\U0001F600"), render_rgba("\U0001F455")])
    a, b, c = (render_variations(glyphs, 32, seed) for seed in (1, 1, 2))
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_retrieval_metrics_rank_the_matching_row():
    from mmpretrain.tasks.contrastive_aligner import retrieval_metrics

    eye = np.eye(4, dtype=np.float32)
    assert retrieval_metrics(eye, eye) == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "median_rank": 1.0}
    keys = eye[[1, 0, 2, 3]]  # queries 0 and 1 find each other's key first; their own shares rank 2
    shuffled = retrieval_metrics(eye + 0.5 * keys, keys, ks=(1, 2))
    assert shuffled["R@1"] == 0.5 and shuffled["R@2"] == 1.0 and shuffled["median_rank"] == 1.5
    with pytest.raises(ValueError, match="matching"):
        retrieval_metrics(eye, eye[:3])


@pytest.fixture(scope="module")
def aligner_run(tmp_path_factory):
    from app_fixtures import tiny_run

    return tiny_run(tmp_path_factory.getbasetemp() / "mmpretrain-apps")


def _fit(run_dir, emoji, loss, modalities, epochs=40):
    import keras

    from mmpretrain.tasks.contrastive_aligner import ContrastiveAligner

    model = ContrastiveAligner.from_run(run_dir, modalities, audio_seconds=3.0, projection_dim=16, loss=loss)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    train = {"text": emoji.captions["train"], "image": emoji.images["train"], "audio": emoji.clips["train"]}
    train = {m: train[m] for m in modalities}
    features = {m: model.feature_arrays(v, m) for m, v in train.items()}
    history = model.fit(model.triple_dataset(features, 32, shuffle_seed=0), epochs=epochs, verbose=0)
    return model, history.history["loss"], train


@pytest.mark.parametrize("loss,modalities", [("contrastive", ("text", "image", "audio")),
                                             ("sigmoid", ("text", "image"))])
@pytest.mark.slow
def test_alignment_loss_falls_and_matching_pairs_score_higher(aligner_run, emoji, loss, modalities):
    from mmpretrain.tasks.contrastive_aligner import retrieval_metrics

    model, losses, train = _fit(aligner_run, emoji, loss, list(modalities))
    assert losses[-1] < 0.8 * losses[0], losses
    vectors = {m: model.embed(v, m) for m, v in train.items()}
    for vector in vectors.values():
        assert vector.shape == (len(train["text"]), 16)
        np.testing.assert_allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-5)
    rng = np.random.default_rng(0)
    chance = 5 / len(train["text"])
    for a, b in [p for p in (("text", "image"), ("audio", "image"), ("audio", "text")) if set(p) <= set(vectors)]:
        matching = np.sum(vectors[a] * vectors[b], axis=1).mean()
        shuffled = np.sum(vectors[a] * vectors[b][rng.permutation(len(vectors[b]))], axis=1).mean()
        assert matching > shuffled, (a, b, matching, shuffled)
        assert retrieval_metrics(vectors[a], vectors[b])["R@5"] > 4 * chance, (a, b)


def test_embeddings_do_not_depend_on_the_batch(aligner_run, emoji):
    from mmpretrain.tasks.contrastive_aligner import ContrastiveAligner

    model = ContrastiveAligner.from_run(aligner_run, audio_seconds=3.0, projection_dim=8)
    for modality, values in (("text", emoji.captions["test"][:6]), ("image", emoji.images["test"][:6]),
                             ("audio", emoji.clips["test"][:6])):
        together = model.embed(values, modality)
        alone = np.concatenate([model.embed(values[i:i + 1], modality) for i in range(len(values))])
        np.testing.assert_allclose(together, alone, atol=1e-5)


def test_aligner_rejects_bad_configurations(aligner_run):
    from mmpretrain.tasks.contrastive_aligner import ContrastiveAligner

    with pytest.raises(ValueError, match="Unknown loss 'cosine'"):
        ContrastiveAligner.from_run(aligner_run, loss="cosine")
    with pytest.raises(ValueError, match="at least two modalities"):
        ContrastiveAligner.from_run(aligner_run, ["text"])
    with pytest.raises(ValueError, match="needs a run pretrained on"):
        ContrastiveAligner.from_run(aligner_run, ["text", "video"])
    model = ContrastiveAligner.from_run(aligner_run, ["text", "image"], projection_dim=8)
    with pytest.raises(ValueError, match="received modality 'audio'"):
        model.embed([np.zeros(1600, np.float32)], "audio")


@pytest.fixture(scope="module")
def app_run(aligner_run, tmp_path_factory):
    """The retrieval app for 2 epochs on 240 emoji, exported (with TFLite) under a temporary root."""
    from app_fixtures import app_module

    root = tmp_path_factory.mktemp("retrieval-app")
    app = app_module("retrieval")
    metrics = app.run(app.build_parser().parse_args([
        "--run", aligner_run, "--limit", "240", "--epochs", "2", "--batch-size", "32", "--audio-seconds", "3",
        "--zero-shot-images", "200", "--output", str(root / "out"), "--models", str(root / "saved_models"),
        "--quiet"]))
    return metrics, root


@pytest.mark.slow
def test_retrieval_app_scores_against_the_anchor_and_exports(app_run):
    metrics, root = app_run
    assert set(metrics["scores"]) == {"text->image", "image->text", "speech->image", "speech->text"}
    assert set(metrics["baselines"]["cca"]) == set(metrics["scores"])
    for values in list(metrics["scores"].values()) + list(metrics["baselines"]["cca"].values()):
        assert 0 <= values["R@1"] <= values["R@5"] <= values["R@10"] <= 1
        assert 1 <= values["median_rank"] <= metrics["data"]["test"]
    assert metrics["zero_shot"]["fashion_mnist"]["images"] == 200
    assert 0 <= metrics["zero_shot"]["fashion_mnist"]["accuracy"] <= 1
    assert len(metrics["history"]) == 2 and metrics["best_epoch"] in (1, 2)
    assert (root / "out" / "metrics.json").exists() and (root / "out" / "model.keras").exists()
    parity = metrics["export"]["parity"]
    assert metrics["export"]["saved_model"] == str(root / "saved_models" / "retrieval" / "1")
    for modality in ("text", "image", "audio"):
        assert parity["saved_model"][modality]["max_abs_difference"] < 1e-5
        assert parity["tflite"][modality]["max_abs_difference"] < 1e-4, parity["tflite"][modality]


@pytest.mark.slow
def test_export_in_a_fresh_process_equals_the_saved_keras_model(app_run, emoji, tmp_path):
    import json
    import subprocess
    import sys

    import keras

    import mmpretrain.tasks.contrastive_aligner  # noqa: F401  (registers the classes)
    from mmpretrain.export.aligned_export import decoded

    metrics, root = app_run
    model = keras.saving.load_model(root / "out" / "model.keras")
    captions = emoji.captions["test"][:5]
    # The signature takes the model's channels, as the encoder's serve_image does (pipelines convert).
    images = np.stack(decoded(model, "image", emoji.images["test"][:5],
                              {"image_channels": model.preprocessors["image"].channels}))
    np.save(tmp_path / "images.npy", images)
    script = f"""
import json, numpy as np, tensorflow as tf, tensorflow_text
model = tf.saved_model.load({metrics["export"]["saved_model"]!r})
text = model.signatures["embed_text"](text=tf.constant({json.dumps(captions)}))["embeddings"].numpy()
image = model.signatures["embed_image"](images=tf.constant(np.load({str(tmp_path / "images.npy")!r})))["embeddings"]
np.save({str(tmp_path / "text.npy")!r}, text); np.save({str(tmp_path / "image.npy")!r}, image.numpy())
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "text.npy"), model.embed(captions, "text"), atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "image.npy"), model.embed(images, "image"), atol=1e-5)


@pytest.mark.slow
def test_zero_shot_pipelines_rank_candidate_labels(app_run, emoji):
    import mmpretrain

    _, root = app_run
    model = str(root / "saved_models" / "retrieval")
    classify = mmpretrain.pipeline("zero-shot-image-classification", model=model)
    labels = emoji.captions["test"][:4]
    answer = classify(emoji.images["test"][0], candidate_labels=labels)
    assert [a["label"] for a in answer] != [] and sorted(a["label"] for a in answer) == sorted(labels)
    scores = [a["score"] for a in answer]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5
    batch = classify(list(emoji.images["test"][:3]), candidate_labels=labels, top_k=2)
    assert len(batch) == 3 and all(len(a) == 2 for a in batch)
    assert batch[0][0] == answer[0] and abs(batch[0][0]["score"] - answer[0]["score"]) < 1e-5
    listen = mmpretrain.pipeline("zero-shot-audio-classification", model=model)
    heard = listen({"array": emoji.clips["test"][0], "sampling_rate": 16000}, candidate_labels=labels)
    assert sorted(a["label"] for a in heard) == sorted(labels)
    templated = classify(emoji.images["test"][0], candidate_labels=labels, hypothesis_template="an emoji of {}")
    assert sorted(a["label"] for a in templated) == sorted(labels)


@pytest.mark.slow
def test_zero_shot_pipelines_reject_bad_input(app_run, emoji):
    import mmpretrain

    _, root = app_run
    model = str(root / "saved_models" / "retrieval")
    classify = mmpretrain.pipeline("zero-shot-image-classification", model=model)
    image = emoji.images["test"][0]
    for labels, message in (([], "at least two labels"), (["cat"], "at least two labels"),
                            (["cat", "dog", "cat"], "distinct; \\['cat'\\]"), (None, "list of non-empty strings"),
                            (["cat", ""], "list of non-empty strings")):
        with pytest.raises(ValueError, match=message):
            classify(image, candidate_labels=labels)
    with pytest.raises(ValueError, match="hypothesis_template"):
        classify(image, candidate_labels=["cat", "dog"], hypothesis_template="no placeholder")
    listen = mmpretrain.pipeline("zero-shot-audio-classification", model=model)
    with pytest.raises(ValueError, match="zero-shot-audio-classification"):
        listen(image, candidate_labels=["cat", "dog"])  # an image is not audio


def test_retrieval_app_rejects_bad_flags(aligner_run):
    from app_fixtures import app_module

    app = app_module("retrieval")
    with pytest.raises(ValueError, match="at least two distinct modalities"):
        app.run(app.build_parser().parse_args(["--run", aligner_run, "--modalities", "text,text"]))
    with pytest.raises(ValueError, match="--epochs must be at least 1"):
        app.run(app.build_parser().parse_args(["--run", aligner_run, "--epochs", "0"]))


@pytest.mark.slow
def test_search_indexes_a_folder_and_answers_text_and_spoken_queries(app_run, emoji, tmp_path):
    import json

    import soundfile
    from app_fixtures import app_module
    from PIL import Image

    _, root = app_run
    search = app_module("retrieval", "search.py")
    model = str(root / "saved_models" / "retrieval")
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(emoji.images["test"][i]).save(folder / f"emoji{i}.png")
        soundfile.write(folder / "sub" / f"clip{i}.wav", emoji.clips["test"][i], 16000)
    (folder / "notes.txt").write_text("not indexed")
    index = tmp_path / "index"
    info = search.build_index(str(folder), str(index), model)
    assert info["counts"] == {"audio": 4, "image": 4} and info["files"] == 8
    answers = search.search(str(index), texts=[emoji.captions["test"][0]], audio=[str(folder / "sub" / "clip1.wav")],
                            top_k=3)
    assert [a["query"] for a in answers] == [emoji.captions["test"][0], str(folder / "sub" / "clip1.wav")]
    for answer in answers:
        scores = [r["score"] for r in answer["results"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    only = search.search(str(index), texts=["a face"], top_k=10, modality="image")
    assert {r["modality"] for r in only[0]["results"]} == {"image"} and len(only[0]["results"]) == 4
    # The CLI: one JSON line per query, exit code 2 with the reason on bad input.
    assert search.main(["query", str(index), "--text", "a face", "--top-k", "2"]) == 0
    with pytest.raises(ValueError, match="already exists at .*; pass --force"):
        search.build_index(str(folder), str(index), model)
    before = json.loads((index / "index.json").read_text())
    assert search.build_index(str(folder), str(index), model, force=True)["files"] == before["files"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="holds no supported files; accepted: images"):
        search.build_index(str(empty), str(tmp_path / "index2"), model)
    assert not (tmp_path / "index2").exists()
    with pytest.raises(ValueError, match="is not an audio file"):
        search.search(str(index), audio=[str(folder / "emoji0.png")])
    with pytest.raises(ValueError, match="is not an index"):
        search.search(str(tmp_path / "nowhere"), texts=["x"])
    assert search.main(["index", str(empty), "--index", str(tmp_path / "index3"), "--model", model]) == 2


@pytest.mark.slow
def test_rest_server_embeds_each_modality_like_the_saved_model(app_run, emoji):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    from app_fixtures import post_json

    from mmpretrain.serving.rest_server import make_server

    metrics, root = app_run
    loaded = tf.saved_model.load(metrics["export"]["saved_model"])
    captions = emoji.captions["test"][:3]
    want = loaded.signatures["embed_text"](text=tf.constant(captions))["embeddings"].numpy()
    server = make_server(str(root / "saved_models"), port=0).start_in_thread()
    try:
        url = server.url + "/v1/models/retrieval:predict"
        status, body = post_json(url, {"signature_name": "embed_text", "instances": captions})
        assert status == 200, body
        np.testing.assert_allclose(np.asarray(body["predictions"], np.float32), want, atol=1e-5)
        clip = emoji.clips["test"][0]
        status, body = post_json(url, {"signature_name": "embed_audio",
                                       "instances": [{"waveforms": clip.tolist(), "lengths": len(clip)}]})
        assert status == 200, body
        assert abs(np.linalg.norm(np.asarray(body["predictions"][0], np.float32)) - 1) < 1e-4
        status, body = post_json(url, {"signature_name": "embed_video", "instances": captions})
        assert status == 400 and "embed_video" in body["error"]
    finally:
        server.stop()
