"""The retrieval app's export: one SavedModel that embeds text, images and speech in one space.

    saved_models/retrieval/VERSION/
      saved_model.pb  variables/   embed_text  (= serving_default): {text string [B]} -> embeddings [B, K]
                                   embed_image: {images uint8 [B, H, W, C]} -> embeddings [B, K]
                                   embed_audio: {waveforms float32 [B, T] at 16 kHz, lengths int32 [B]}
                                       -> embeddings [B, K]
      assets/app.json              task, modalities, projection_dim, scale, image and audio settings
      assets.extra/metrics.json  assets.extra/parity.json
      assets.extra/tflite/retrieval_<modality>_float32.tflite   (one per modality: builtin ops and
                                   tf.text's kernels; images at the model's size, uint8 [B, S, S, C])

Every embedding is unit length, so a dot product is the cosine the model was trained on; the
learned logit scale is in app.json (zero-shot scores are softmax(scale * cosine)). The
preprocessing (WordPiece, resizing, log-mel) runs inside each signature: the SavedModel loads
with tensorflow and tensorflow_text alone.

Parity: the staged SavedModel is reloaded and each signature's embeddings are compared with the
Keras model's on the given examples (max absolute difference); each TFLite file the same way.
"""

import json
import os

import numpy as np

FORMAT = "mmpretrain.app"
TASK = "cross-modal-retrieval"
SIGNATURES = {"text": "embed_text", "image": "embed_image", "audio": "embed_audio"}


def endpoint(model, modality):
    """(fn, spec) of one modality's embedding signature for `write_saved_model`: the modality
    record's raw-input spec and preprocessing (as the encoder's `serve_<modality>` endpoints)."""
    from mmpretrain.modalities import get_modality

    record, preprocessor = get_modality(modality), model.preprocessors[modality]
    spec = record.input_spec(preprocessor)

    def embed(inputs):
        features = record.preprocess(preprocessor, inputs if isinstance(spec, dict) else inputs[spec.name])
        return {"embeddings": model.embed_features(features, modality, training=False)}

    return embed, spec if isinstance(spec, dict) else {spec.name: spec}


def decoded(model, modality, values, info):
    """Raw examples as the modality record's `decode` gives them (what the pipelines pass on)."""
    from mmpretrain.modalities import get_modality

    items, _ = get_modality(modality).decode(list(values), f"retrieval export ({modality})", info)
    return items


def run_signature(function, modality, items, info, batch_size=64):
    """A signature's embeddings [N, K] for decoded examples, batched by the record's `collate`."""
    import tensorflow as tf

    from mmpretrain.modalities import get_modality
    from mmpretrain.modalities.modality import signature_arguments

    record = get_modality(modality)
    out = [None] * len(items)
    for start in range(0, len(items), batch_size):
        for rows, batch in record.collate(items[start:start + batch_size], info):
            arguments = {k: tf.constant(v) for k, v in signature_arguments(batch).items()}
            for row, vector in zip(rows, function(**arguments)["embeddings"].numpy()):
                out[start + row] = vector
    return np.stack(out)


def _compare(got, want):
    """Max |difference| between exported and Keras embeddings [N, K]."""
    return {"max_abs_difference": float(np.max(np.abs(got - want))), "examples": int(len(want))}


def tflite_endpoint(model, modality):
    """(fn, spec) converted to TFLite: as `endpoint`, except that images come at the model's own
    size and channels (uint8 [B, S, S, C]; the antialiased resize has no TFLite builtin), as the
    encoder's image TFLite file takes them."""
    import tensorflow as tf

    if modality != "image":
        return endpoint(model, modality)
    preprocessor = model.preprocessors["image"]
    size, channels = preprocessor.image_size, preprocessor.channels

    def embed(inputs):
        x = tf.clip_by_value(tf.cast(inputs["images"], tf.float32) / 255.0, 0.0, 1.0) * 2.0 - 1.0
        patches = preprocessor.patchify(x)
        features = {"patches": patches, "padding_mask": tf.ones(tf.shape(patches)[:2], dtype=tf.bool)}
        return {"embeddings": model.embed_features(features, "image", training=False)}

    return embed, {"images": tf.TensorSpec([None, size, size, channels], tf.uint8)}


def fixed_size_images(model, images):
    """uint8 images -> uint8 [N, S, S, C] at the model's size and channels (what the TFLite file takes)."""
    import tensorflow as tf

    preprocessor = model.preprocessors["image"]
    x = preprocessor._to_channels(tf.cast(tf.constant(np.asarray(images, np.uint8)), tf.float32) / 255.0)  # noqa: SLF001
    x = tf.image.resize(x, (preprocessor.image_size, preprocessor.image_size), antialias=True)
    return np.asarray(np.round(np.clip(x.numpy(), 0.0, 1.0) * 255.0), np.uint8)


def write_tflite(model, staging, folder, app, examples, info):
    """One float32 TFLite file per modality, its ops checked and its embeddings compared with Keras's
    on the same (decoded) inputs, images at the model's size."""
    from mmpretrain.export.saved_model_writer import write_saved_model
    from mmpretrain.export.tflite_export import check_tflite_ops, convert, make_interpreter
    from mmpretrain.modalities import get_modality
    from mmpretrain.modalities.modality import signature_arguments

    os.makedirs(folder, exist_ok=True)
    report = {}
    for modality in model.modalities:
        values = list(fixed_size_images(model, examples[modality])) if modality == "image" else examples[modality]
        source = os.path.join(staging, f"tflite_source_{modality}")
        write_saved_model(source, {"embed": tflite_endpoint(model, modality)})
        content = convert(source, "embed", "float32")
        file = f"{app}_{modality}_float32.tflite"
        with open(os.path.join(folder, file), "wb") as f:
            f.write(content)
        runner = make_interpreter(content).get_signature_runner("embed")
        rows = []
        for i in range(len(values)):  # one example at a time
            (_, batch), = get_modality(modality).collate(values[i:i + 1], info)
            arguments = {k: v.numpy() if hasattr(v, "numpy") else np.asarray(v)
                         for k, v in signature_arguments(batch).items()}
            rows.append(runner(**arguments)["embeddings"])
        report[modality] = dict(_compare(np.concatenate(rows), model.embed(values, modality)), file=file,
                                bytes=len(content), ops=check_tflite_ops(content, file))
    return report


def export_aligned(model, app, output, examples, metrics, tflite=True, log=print):
    """Writes saved_models/APP/VERSION for `model` (a `ContrastiveAligner`); returns the export section.

    `examples`: modality -> raw test examples (strings, uint8 images, float32 clips) on which the
    reloaded SavedModel (and each TFLite file) must give the Keras embeddings.
    """
    import tensorflow as tf

    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model

    config = {
        "format": FORMAT, "format_version": 1, "app": app, "task": TASK, "modalities": list(model.modalities),
        "signatures": {m: SIGNATURES[m] for m in model.modalities}, "outputs": ["embeddings"],
        "projection_dim": model.projection_dim, "logit_scale": float(model.scale.numpy()),
        "logit_bias": float(model.logit_bias.numpy()), "loss": model.loss_name,
    }
    from mmpretrain.modalities import get_modality

    for modality in model.modalities:  # what each record's decode and collate read (sizes, rates)
        config.update(get_modality(modality).export_config(model.preprocessors[modality]))
    examples = {m: decoded(model, m, examples[m], config) for m in model.modalities}
    reference = {m: model.embed(examples[m], m) for m in model.modalities}
    model_dir = os.path.join(output, app)
    with serving_layout.staging_dir(model_dir) as staging:
        staged = os.path.join(staging, "model")
        log(f"{app}: writing the SavedModel ({', '.join(SIGNATURES[m] for m in model.modalities)})")
        write_saved_model(staged, {SIGNATURES[m]: endpoint(model, m) for m in model.modalities},
                          assets={"app_file": ("app.json", json.dumps(config, indent=2, sort_keys=True))})
        loaded = tf.saved_model.load(staged)
        parity = {"saved_model": {m: _compare(run_signature(loaded.signatures[SIGNATURES[m]], m, examples[m], config),
                                              reference[m]) for m in model.modalities}}
        extra = os.path.join(staged, "assets.extra")
        if tflite:
            log(f"{app}: converting each modality to TFLite, embeddings against Keras")
            parity["tflite"] = write_tflite(model, staging, os.path.join(extra, "tflite"), app, examples, config)
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "parity.json"), "w", encoding="utf-8") as f:
            json.dump(parity, f, indent=2, sort_keys=True)
        final = serving_layout.publish_app(staged, model_dir, metrics, parity)["saved_model"]
    worst = max(p["max_abs_difference"] for p in parity["saved_model"].values())
    log(f"{app}: published {final} (SavedModel vs Keras: max |difference| {worst:.1e})")
    return metrics["export"]
