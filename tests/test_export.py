"""Export: SavedModels (TF Hub style, TF Serving layout), fine-tuning reloads, TFLite, bad input.

One tiny real pretraining run is exported once (tests/workers/export_fixtures.py) and checked
from every side: reloaded in this process and in a fresh one, fine-tuned with Adam, converted to
TFLite, and refused when the input is bad.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))

from export_fixtures import keras_outputs, scratch_dir, tiny_export, tiny_run_dir  # noqa: E402

# Pretrains and exports a tiny run once (~45 s on 2 idle cores), so the module is `slow`.
pytestmark = pytest.mark.slow

WORKERS = os.path.join(os.path.dirname(__file__), "workers")
MODALITIES = ("text", "image", "audio")


@pytest.fixture(scope="module")
def exported():
    return tiny_export()


@pytest.fixture(scope="module")
def reloaded(exported):
    """The encoder loaded once with tf.saved_model.load and once with tensorflow_hub.load."""
    import tensorflow_hub as hub

    return tf.saved_model.load(exported[0].encoder_dir), hub.load(exported[0].encoder_dir)


def raw_inputs(samples, modality, count, image_size=None):
    """The first `count` samples as the signature takes them (a raw batch; images optionally re-sized)."""
    from mmpretrain.modalities import get_modality

    batch = get_modality(modality).slice_batch(samples[modality], count)
    if image_size is not None:  # any H and W: the SavedModel resizes
        batch = {"images": tf.cast(tf.image.resize(batch["images"], image_size), tf.uint8).numpy()}
    return batch


def signature_feed(modality, inputs):
    return {key: tf.constant(value) for key, value in inputs.items()}


# === Layout and assets ===


def test_layout_versions_and_assets(exported):
    result, run, _ = exported
    base = os.path.dirname(os.path.dirname(result.encoder_dir))
    assert result.version == 1
    assert sorted(os.listdir(base)) == ["tiny", "tiny_text_encoder", "tiny_text_preprocess"]
    for name in os.listdir(base):  # TF Serving layout, no temp dirs left behind
        assert os.listdir(os.path.join(base, name)) == ["1"]
        assert os.path.isfile(os.path.join(base, name, "1", "saved_model.pb"))
    assets = os.path.join(result.encoder_dir, "assets")
    config = json.load(open(os.path.join(assets, "config.json")))
    assert config["sample_rate"] == 16000
    assert config["image_size"] == run.preprocessors["image"].image_size
    assert config["sequence_length"] == run.preprocessors["text"].sequence_length
    assert sorted(config["signatures"]) == ["serve_audio", "serve_image", "serve_text"]
    vocabulary = open(os.path.join(assets, "vocab.txt")).read().split("\n")[:-1]
    assert vocabulary == run.preprocessors["text"].vocabulary
    tflite = sorted(os.listdir(result.tflite_dir))
    assert tflite == sorted(f"{m}_{q}.{ext}" for m in MODALITIES for q in ("float32", "int8")
                            for ext in ("tflite", "parity.json"))


# === SavedModel parity, in this process and in a fresh one ===


@pytest.mark.parametrize("modality", MODALITIES)
def test_reloaded_saved_model_equals_keras_at_two_batch_sizes(exported, reloaded, modality):
    result, run, samples = exported
    loaded, via_hub = reloaded
    signature = loaded.signatures[f"serve_{modality}"]
    for count, size in ((1, None), (3, None), (3, (13, 6))):  # two batch sizes, then odd H x W
        if size and modality != "image":
            continue
        inputs = raw_inputs(samples, modality, count, size)
        want = keras_outputs(run, modality, inputs)
        got = signature(**signature_feed(modality, inputs))
        hub_got = via_hub.signatures[f"serve_{modality}"](**signature_feed(modality, inputs))
        for key in ("pooled_output", "sequence_output"):
            assert got[key].shape[0] == count
            assert np.abs(got[key].numpy() - want[key]).max() <= 1e-5, (modality, count, key)
            np.testing.assert_array_equal(hub_got[key].numpy(), got[key].numpy())
        np.testing.assert_array_equal(got["padding_mask"].numpy(), want["padding_mask"])
    # Plain keras.layers.TFSMLayer on the same endpoint (inference) gives the same outputs.
    import keras

    layer = keras.layers.TFSMLayer(result.encoder_dir, call_endpoint=f"serve_{modality}")
    feed = signature_feed(modality, inputs)
    outputs = layer(feed if modality == "audio" else next(iter(feed.values())))
    np.testing.assert_array_equal(np.asarray(outputs["pooled_output"]), got["pooled_output"].numpy())


def saved_model_cli_run(result, run, samples, tmp_path):
    """Starts `saved_model_cli run` on the ids-only encoder (a process without tf.text)."""
    ids = run.preprocessors["text"](samples["text"]["text"][:2])
    files = []
    for name, value in (("input_word_ids", ids["token_ids"]), ("input_mask", ids["padding_mask"]),
                        ("input_type_ids", ids["segment_ids"])):
        np.save(tmp_path / f"{name}.npy", value.numpy().astype(np.int32))
        files.append(f"{name}={tmp_path / name}.npy")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return subprocess.Popen(
        [cli, "run", "--dir", result.text_encoder_dir, "--tag_set", "serve", "--signature_def",
         "serving_default", "--inputs", ";".join(files)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_fresh_processes_load_the_export(exported, tmp_path):
    """Two fresh processes at once: one with only tf + tf.text + TF Hub loads every signature;
    `saved_model_cli run` (no tf.text) runs the ids-only text encoder, as stock TF Serving would."""
    from mmpretrain.export.text_hub_export import check_core_ops

    result, run, samples = exported
    texts, images, audio = (raw_inputs(samples, m, n) for m, n in (("text", 4), ("image", 3), ("audio", 3)))
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, text=texts["text"], images=images["images"],
             waveforms=audio["waveforms"], lengths=audio["lengths"])
    out = tmp_path / "out.npz"
    cli = saved_model_cli_run(result, run, samples, tmp_path)
    fresh = subprocess.Popen(
        [sys.executable, os.path.join(WORKERS, "export_fresh_load.py"), result.encoder_dir,
         result.text_preprocess_dir, result.text_encoder_dir, str(inputs), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ""},
    )
    cli_out, cli_err = cli.communicate(timeout=180)
    fresh_out, fresh_err = fresh.communicate(timeout=180)
    assert fresh.returncode == 0, fresh_err[-3000:]
    assert cli.returncode == 0, cli_err[-3000:]
    assert "pooled_output" in cli_out and "sequence_output" in cli_out

    check_core_ops(result.text_encoder_dir)  # passes: no tf.text op
    with pytest.raises(ValueError, match="FastBertNormalize"):
        check_core_ops(result.encoder_dir)  # the raw-text encoder does hold tf.text ops

    got = np.load(out, allow_pickle=False)
    info = json.loads(str(got["info"]))
    assert info["mmpretrain_imported"] is False
    assert info["sample_rate"] == 16000 and info["image_size"] == run.preprocessors["image"].image_size
    assert info["vocabulary_size"] == run.preprocessors["text"].vocabulary_size
    for modality, raw in (("text", texts), ("image", images), ("audio", audio)):
        want = keras_outputs(run, modality, raw)
        for key in ("pooled_output", "sequence_output"):
            assert np.abs(got[f"serve_{modality}/{key}"] - want[key]).max() <= 1e-5, (modality, key)
        np.testing.assert_array_equal(got[f"call/serve_{modality}"], got[f"serve_{modality}/pooled_output"])
    # The TF Hub pair (preprocess -> ids-only encoder) computes the same text embeddings.
    assert np.abs(got["hub_text/pooled_output"] - got["serve_text/pooled_output"]).max() <= 1e-5
    np.testing.assert_array_equal(got["hub_text/default"], got["hub_text/pooled_output"])


# === Fine-tuning the reloaded encoder ===


def test_finetuning_with_adam_changes_every_encoder_variable(exported, tmp_path):
    """One Keras model over the three reloaded signatures, trained with Adam through fit."""
    import keras

    from mmpretrain.export.saved_model_writer import write_saved_model
    from mmpretrain.export.trainable_encoder import load_encoder_layer

    result, run, samples = exported
    audio = raw_inputs(samples, "audio", 6)
    x = {"text": tf.constant(samples["text"]["text"][:6]), "images": samples["image"]["images"][:6],
         "waveforms": audio["waveforms"], "lengths": audio["lengths"]}
    inputs = {"text": keras.Input((), dtype="string", name="text"),
              "images": keras.Input((None, None, 1), dtype="uint8", name="images"),
              "waveforms": keras.Input((None,), name="waveforms"),
              "lengths": keras.Input((), dtype="int32", name="lengths")}
    encoders = {m: load_encoder_layer(result.encoder_dir, f"serve_{m}") for m in MODALITIES}
    pooled = [
        encoders["text"](inputs["text"])["pooled_output"],
        encoders["image"](inputs["images"])["pooled_output"],
        encoders["audio"]({"waveforms": inputs["waveforms"], "lengths": inputs["lengths"]})["pooled_output"],
    ]
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Concatenate()(pooled)))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = {m: [w.numpy().copy() for w in e.trainable_weights] for m, e in encoders.items()}
    model.fit(x, np.array([0, 1, 0, 1, 1, 0]), batch_size=3, epochs=1, verbose=0)
    for modality, encoder in encoders.items():
        others = [f"{m}_embedding/" for m in MODALITIES if m != modality]
        used = [v for v in run.backbone.trainable_variables if not v.path.startswith(tuple(others))]
        assert len(encoder.trainable_weights) == len(used)  # the shared trunk + this front-end
        assert encoder.call_training_endpoint == f"serve_{modality}_training"
        assert all(":" not in w.name for w in encoder.trainable_weights)
        unchanged = [w.name for w, b in zip(encoder.trainable_weights, before[modality])
                     if np.array_equal(w.numpy(), b)]
        assert not unchanged, (modality, unchanged)
    # The fine-tuned model exports again with the same writer (what task apps do).
    path = str(tmp_path / "app")
    spec = {k: tf.TensorSpec(v.shape, v.dtype, name=k) for k, v in inputs.items()}
    write_saved_model(path, {"serving_default": (lambda t: {"logits": model(t)}, spec)})
    feed = {k: tf.constant(v) for k, v in x.items()}
    reloaded = tf.saved_model.load(path).signatures["serving_default"](**feed)["logits"]
    assert np.abs(reloaded.numpy() - model(feed).numpy()).max() <= 1e-5


# === TFLite ===


@pytest.mark.parametrize("modality", MODALITIES)
def test_tflite_float32_parity_int8_size_and_ops(exported, modality):
    from mmpretrain.export.tflite_export import check_tflite_ops, run_tflite, tflite_inputs

    result, run, samples = exported
    files = {q: open(os.path.join(result.tflite_dir, f"{modality}_{q}.tflite"), "rb").read()
             for q in ("float32", "int8")}
    reports = {q: json.load(open(os.path.join(result.tflite_dir, f"{modality}_{q}.parity.json")))
               for q in files}
    for content in files.values():
        ops = check_tflite_ops(content)
        assert not any(op.startswith("Flex") for op in ops["custom"])
    # Re-run the float32 file here on the real samples rather than trusting the report.
    want = keras_outputs(run, modality, samples[modality])
    got = run_tflite(files["float32"], tflite_inputs(modality, samples), modality)
    for key in ("pooled_output", "sequence_output"):
        assert np.abs(got[key] - want[key]).max() <= 1e-4, key
    assert reports["float32"]["passed"] and max(reports["float32"]["max_abs_diff"].values()) <= 1e-4
    # int8: the learned weights shrink to at most 40% of their float32 size. The whole file also
    # holds preprocessing constants that stay float32 (text: the tokenizer's models; audio: the
    # DFT and mel matrices, which an 8-bit DFT would wreck); at this tiny model size they
    # dominate text and audio files, so the whole-file bound is checked for images only.
    parts = {q: reports[q]["bytes_by_part"] for q in reports}
    assert parts["int8"]["learned_weights"] <= 0.40 * parts["float32"]["learned_weights"], parts
    assert reports["int8"]["learned_weights_ratio_to_float32"] <= 0.40
    if modality == "image":
        assert len(files["int8"]) <= 0.40 * len(files["float32"])
    assert parts["int8"]["preprocessing_constants"] >= parts["float32"]["preprocessing_constants"]  # kept float
    assert reports["int8"]["padding_mask_equal"]
    assert reports["int8"]["pooled_cosine_similarity"]["min"] > 0.999
    assert reports["int8"]["nearest_neighbour_agreement"] == 1.0


def test_tflite_check_refuses_flex_and_unknown_custom_ops(tmp_path):
    from mmpretrain.export.tflite_export import check_tflite_ops

    module = tf.Module()
    module.f = tf.function(lambda s: {"y": tf.strings.regex_replace(s, "a", "b")},
                           input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "flex"), signatures={"serving_default": module.f})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "flex"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    with pytest.raises(ValueError, match="Flex"):
        check_tflite_ops(converter.convert())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    with pytest.raises(ValueError, match="StaticRegexReplace"):
        check_tflite_ops(converter.convert())


# === Bad input: clear errors, nothing overwritten ===


def snapshot(base):
    return sorted((os.path.relpath(os.path.join(root, f), base), os.path.getmtime(os.path.join(root, f)))
                  for root, _, files in os.walk(base) for f in files)


def test_missing_and_half_written_runs_are_refused(tmp_path):
    from mmpretrain.export.run_export import export_run

    output = str(tmp_path / "out")
    with pytest.raises(ValueError, match="does not exist"):
        export_run(str(tmp_path / "nope"), output=output)
    half = tmp_path / "half"
    shutil.copytree(tiny_run_dir(), half)
    os.remove(half / "backbone.keras")
    with pytest.raises(ValueError, match=r"Run not finished.*latest checkpoint is at step 3.*mmpretrain pretrain"):
        export_run(str(half), output=output)
    with open(half / "backbone.keras", "wb") as f:
        f.write(open(os.path.join(tiny_run_dir(), "backbone.keras"), "rb").read()[:5000])
    with pytest.raises(ValueError, match="damaged"):
        export_run(str(half), output=output)
    os.remove(half / "config.json")
    with pytest.raises(ValueError, match="no config.json"):
        export_run(str(half), output=output)
    assert not os.path.exists(output) or not any(files for _, _, files in os.walk(output))


def test_existing_version_bad_arguments_and_failed_checks_change_nothing(exported):
    from mmpretrain.export.run_export import export_run

    result, run, samples = exported
    base = os.path.dirname(os.path.dirname(result.encoder_dir))
    before = snapshot(base)
    with pytest.raises(ValueError, match="Version 1 already exists.*never overwritten"):
        export_run(tiny_run_dir(), output=base, name="tiny", version=1)
    with pytest.raises(ValueError, match="modalities"):
        export_run(tiny_run_dir(), output=base, name="tiny", modalities=["video"])
    with pytest.raises(ValueError, match="Model name"):
        export_run(tiny_run_dir(), output=base, name="../escape")
    nan_audio = {**samples, "audio": {"waveforms": np.full((1, 800), np.nan, np.float32),
                                      "lengths": np.array([800], np.int32)}}
    with pytest.raises(ValueError, match="finite"):  # fails mid-export, in the parity check
        export_run(tiny_run_dir(), output=base, name="tiny", modalities="audio", tflite=False,
                   samples=nan_audio)
    assert snapshot(base) == before  # no version 2, no temp dirs, version 1 untouched


def test_export_command_summarizes_and_reports_errors(exported, capsys):
    import argparse

    from mmpretrain.export.cli import add_export_parser, summarize

    result = exported[0]
    text = summarize(result)
    assert "Exported 'tiny' version 1" in text and "serve_audio" in text and "int8" in text
    parser = argparse.ArgumentParser()
    add_export_parser(parser.add_subparsers())
    base = os.path.dirname(os.path.dirname(result.encoder_dir))
    args = parser.parse_args(["export", tiny_run_dir(), "--output", base, "--name", "tiny",
                              "--version", "1", "--modalities", "text"])
    assert (args.output, args.no_tflite, args.modalities) == (base, False, "text")
    assert args.func(args) == 2
    assert "Version 1 already exists" in capsys.readouterr().err
    args = parser.parse_args(["export", os.path.join(scratch_dir(), "missing")])
    assert args.func(args) == 2
    assert "does not exist" in capsys.readouterr().err
