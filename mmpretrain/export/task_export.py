"""An app's export: SavedModel (raw input -> label, score) + TFLite float32/int8, with parity.


    saved_models/APP/VERSION/
      saved_model.pb  variables/            serving_default: raw input -> label, label_id,
                                            score, probabilities
      assets/app.json  assets/labels.txt    what the pipelines need (modality, classes, sizes)
      assets.extra/metrics.json  assets.extra/report.png
      assets.extra/tflite/APP_float32.tflite  APP_int8.tflite  parity.json

Everything is written into a hidden staging directory beside the versions and moved in with one
`os.rename` (`mmpretrain.export.serving_layout`): a failed export leaves no version behind.

TFLite goes through `mmpretrain.export.tflite_export` (`convert`, `check_tflite_ops`: builtin
ops plus tf.text kernels only, no Flex). Everything modality-specific comes from the modality
record: the signature's input spec (`input_spec`), the config keys copied to app.json
(`export_config`), and the TFLite source. Most apps (text, audio) convert the app SavedModel's
serving signature itself. When the record has its own `tflite_function` (images: a fixed-size
twin, uint8 [B, S, S, C] at the encoder's image size, because the SavedModel's antialiased
resize has no TFLite kernel), the fine-tuned encoder weights are copied into a Keras backbone
and run through it (same scaling and patching), followed by the app's own head. When the record
says `int8_keeps_float()` (audio), int8 keeps every constant outside the learned weights in
float32.

Parity: the reloaded SavedModel and both TFLite files run on the whole test split; the labels
they give are compared with the Keras model's (agreement, and max |probability difference|).
"""

import json
import os

import numpy as np

from mmpretrain.export.model_dirs import encoder_preprocessor
from mmpretrain.modalities.registry import get_modality

OUTPUTS = ("label", "label_id", "score", "probabilities")
PARITY_BATCH = 64


def serving_function(model, class_names):
    """fn(raw inputs) -> {label, label_id, score, probabilities} around the Keras app model."""
    import tensorflow as tf

    names = tf.constant([str(c) for c in class_names])

    def serve(inputs):
        logits = model(inputs, training=False)  # [B, K]
        return _outputs(logits, names)

    return serve


def _outputs(logits, names):
    import tensorflow as tf

    probabilities = tf.nn.softmax(logits, axis=-1)  # [B, K]
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)  # [B]
    return {
        "label": tf.gather(names, label_id),
        "label_id": label_id,
        "score": tf.reduce_max(probabilities, axis=-1),
        "probabilities": probabilities,
    }


def task_name(modality):
    """The pipeline task of a classifier app on `modality` ("text-classification", ...)."""
    return f"{modality}-classification"


def tflite_twin_function(encoder_layer, head, encoder_config, class_names, modality, preprocessor):
    """(fn, spec) converted to TFLite instead of the app SavedModel, or None.

    Only for a modality whose record has its own `tflite_function` (images: uint8
    [B, S, S, C] at the encoder's size -> the serving outputs): the fine-tuned encoder weights
    go into a Keras backbone, run through the record's function, then the app's head.
    """
    import tensorflow as tf

    from mmpretrain.export.encoder_weights import backbone_with_weights_of
    from mmpretrain.modalities.modality import Modality

    record = get_modality(modality)
    if type(record).tflite_function is Modality.tflite_function:
        return None  # no twin: skip building a backbone
    backbone = backbone_with_weights_of(encoder_layer, encoder_config)
    twin = record.tflite_function(preprocessor, backbone.modality_model(modality))
    if twin is None:
        return None
    encode, spec = twin
    names = tf.constant([str(c) for c in class_names])

    def serve(inputs):
        return _outputs(head(encode(inputs)["pooled_output"]), names)

    return serve, spec


def _batches(inputs, size):
    n = len(next(iter(inputs.values())))
    for start in range(0, n, size):
        yield {k: v[start : start + size] for k, v in inputs.items()}


def run_saved_model(path, inputs):
    """Label ids and probabilities of a reloaded SavedModel's serving signature."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (text graphs hold tf.text ops)

    signature = tf.saved_model.load(path).signatures["serving_default"]
    ids, probabilities = [], []
    for batch in _batches(inputs, PARITY_BATCH):
        out = signature(**{k: tf.constant(v) for k, v in batch.items()})
        ids.append(out["label_id"].numpy())
        probabilities.append(out["probabilities"].numpy())
    return np.concatenate(ids), np.concatenate(probabilities)


def run_tflite_file(content, inputs, signature="serving_default"):
    """Label ids and probabilities of a TFLite model, batch by batch on one interpreter."""
    from mmpretrain.export.tflite_export import make_interpreter

    runner = make_interpreter(content).get_signature_runner(signature)
    ids, probabilities = [], []
    for batch in _batches(inputs, PARITY_BATCH):
        out = runner(**batch)
        ids.append(np.asarray(out["label_id"]))
        probabilities.append(np.asarray(out["probabilities"]))
    return np.concatenate(ids), np.concatenate(probabilities)


def agreement(ids, probabilities, reference_ids, reference_probabilities):
    return {
        "label_agreement": float(np.mean(ids == reference_ids)),
        "max_abs_probability_diff": float(np.max(np.abs(probabilities - reference_probabilities))),
        "examples": int(len(ids)),
    }


def write_tflite_files(folder, app, sources, inputs, reference, learned_scopes=None):
    """Converts, checks ops, runs and compares float32 and int8; returns the parity report.

    `learned_scopes`: tensor-name prefixes of the learned weights. When given, int8 keeps every
    other constant in float32 (the audio front-end's DFT and mel matrices: quantizing them
    wrecks the log-mel features).
    """
    from mmpretrain.export.tflite_export import check_tflite_ops, convert, keep_float_outside

    source_dir, signature = sources
    os.makedirs(folder, exist_ok=True)
    report = {}
    float_content = None
    for quantization in ("float32", "int8"):
        content = convert(source_dir, signature, quantization)
        if quantization == "float32":
            float_content = content
        elif learned_scopes:
            content, _ = keep_float_outside(content, float_content, tuple(learned_scopes))
        ops = check_tflite_ops(content, f"{app}_{quantization}")
        ids, probabilities = run_tflite_file(content, inputs, signature)
        file = f"{app}_{quantization}.tflite"
        with open(os.path.join(folder, file), "wb") as f:
            f.write(content)
        report[quantization] = {
            "file": file,
            "bytes": len(content),
            "quantization": "float32" if quantization == "float32" else "dynamic_range_int8",
            "ops": ops,
            **agreement(ids, probabilities, *reference),
        }
    report["int8"]["size_ratio_to_float32"] = report["int8"]["bytes"] / report["float32"]["bytes"]
    return report


def app_json(app, modality, class_names, encoder_dir, encoder_config, tflite_files, preprocessor=None):
    """assets/app.json: the classes, the task, and the encoder's keys the pipelines need (the
    record's `export_config` keys: sequence length, image size and channels, sample rate, ...)."""
    config = {
        "format": "mmpretrain.app",
        "format_version": 1,
        "app": app,
        "task": task_name(modality),
        "modality": modality,
        "class_names": [str(c) for c in class_names],
        "signature": "serving_default",
        "outputs": list(OUTPUTS),
        "encoder": os.path.abspath(encoder_dir),
        "tflite": tflite_files,
    }
    if preprocessor is None:
        preprocessor = encoder_preprocessor(encoder_dir, modality, encoder_config)
    for key in [*get_modality(modality).export_config(preprocessor), "hidden_dim"]:
        if key in encoder_config:
            config[key] = encoder_config[key]
    return config


def export_classifier(model, encoder_layer, head, app, modality, class_names, encoder_dir,
                      encoder_config, output, test_inputs, reference, metrics, report_png,
                      tflite=True, log=print):
    """Writes saved_models/APP/VERSION; returns {"saved_model": dir, "parity": ..., ...}.

    `test_inputs` are numpy inputs keyed like the signature; `reference` is the Keras model's
    (label ids, probabilities) on them. `metrics` (a dict) is written to
    assets.extra/metrics.json with the export section filled in.
    """
    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model

    record = get_modality(modality)
    preprocessor = encoder_preprocessor(encoder_dir, modality, encoder_config)
    model_dir = os.path.join(output, app)
    with serving_layout.staging_dir(model_dir) as staging:
        staged = os.path.join(staging, "model")
        tflite_files = ({q: f"assets.extra/tflite/{app}_{q}.tflite" for q in ("float32", "int8")}
                        if tflite else {})
        config = app_json(app, modality, class_names, encoder_dir, encoder_config, tflite_files,
                          preprocessor)
        log(f"{app}: writing the SavedModel")
        write_saved_model(
            staged,
            {"serving_default": (serving_function(model, class_names), record.input_spec(preprocessor))},
            assets={
                "labels_file": ("labels.txt", "\n".join(config["class_names"]) + "\n"),
                "app_file": ("app.json", json.dumps(config, indent=2, sort_keys=True)),
            },
        )
        parity = {"saved_model": agreement(*run_saved_model(staged, test_inputs), *reference)}
        if tflite:
            log(f"{app}: converting to TFLite (float32, int8) and checking labels on the test split")
            twin = tflite_twin_function(encoder_layer, head, encoder_config, class_names, modality,
                                        preprocessor)
            source = staged
            if twin is not None:
                source = os.path.join(staging, "tflite_source")
                write_saved_model(source, {"serving_default": twin})
            scopes = None
            if record.int8_keeps_float():  # learned weights: the encoder's and the app's scopes
                scopes = (f"{modality}_encoder", model.name) + ((getattr(head, "name", ""),) if twin else ())
            parity["tflite"] = write_tflite_files(os.path.join(staged, "assets.extra", "tflite"), app,
                                                  (source, "serving_default"), test_inputs, reference,
                                                  learned_scopes=scopes)
        extra = os.path.join(staged, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "parity.json"), "w", encoding="utf-8") as f:
            json.dump(parity, f, indent=2, sort_keys=True)
        if report_png and os.path.isfile(report_png):
            with open(report_png, "rb") as src, open(os.path.join(extra, "report.png"), "wb") as dst:
                dst.write(src.read())
        for attempt in range(5):
            version = serving_layout.next_version(model_dir)
            final = os.path.join(model_dir, str(version))
            metrics["export"] = {"saved_model": final, "version": version, "parity": parity,
                                 "tflite": {q: os.path.join(final, p) for q, p in tflite_files.items()}}
            with open(os.path.join(extra, "metrics.json"), "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=2, sort_keys=True)
            try:
                serving_layout.publish(staged, model_dir, version)
                break
            except ValueError:  # another export took this version meanwhile: take the next one
                if attempt == 4:
                    raise
    log(f"{app}: published {final}")
    return metrics["export"]
