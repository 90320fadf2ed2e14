"""A sequence-to-sequence app's export: a SavedModel whose `generate` signature decodes inside.

    saved_models/APP/VERSION/
      saved_model.pb  variables/     generate (= serving_default): text string [B] ->
                                         text string [B], score float32 [B]
                                     generate_with_options (a function, not served):
                                         {text [B], max_length int32 [], num_beams int32 [],
                                          length_penalty float32 []} -> {text, score}
      assets/app.json                task, decoding defaults, lengths, languages
      assets.extra/metrics.json  assets.extra/parity.json

`generate` uses the app's decoding (greedy or beam search, its length penalty and the model's
full target length); `generate_with_options` is what the pipelines call when a caller passes
`max_length`, `num_beams` or `length_penalty` (always beam search, which at one beam equals
greedy decoding). The SavedModel needs only tensorflow and tensorflow_text to load.

Parity: the staged SavedModel is reloaded and its `generate` strings are compared with the Keras
model's on the given test inputs (exact string match); the published version is the staged
directory moved in with one rename (`mmpretrain.export.serving_layout`).
"""

import json
import os

OUTPUTS = ("text", "score")
FORMAT = "mmpretrain.app"


def generation_functions(model, num_beams, length_penalty):
    """(generate, generate_with_options) as one-argument functions for `write_saved_model`."""
    import tensorflow as tf

    def generate(text):
        out = model.generate_graph(text, model.target_length, int(num_beams), float(length_penalty))
        return {"text": out["text"], "score": out["score"]}

    def generate_with_options(inputs):
        max_length = tf.clip_by_value(tf.cast(inputs["max_length"], tf.int32), 1, model.target_length)
        beams = tf.clip_by_value(tf.cast(inputs["num_beams"], tf.int32), 1, 16)
        out = model.generate_graph(inputs["text"], max_length, beams, tf.cast(inputs["length_penalty"], tf.float32))
        return {"text": out["text"], "score": out["score"]}

    text = tf.TensorSpec([None], tf.string, name="text")
    options = {"text": text, "max_length": tf.TensorSpec([], tf.int32), "num_beams": tf.TensorSpec([], tf.int32),
               "length_penalty": tf.TensorSpec([], tf.float32)}
    return (generate, text), (generate_with_options, options)


def run_generate(path, texts, batch_size=64):
    """The reloaded SavedModel's `generate` strings for `texts`."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the graph holds tf.text ops)

    signature = tf.saved_model.load(path).signatures["generate"]
    out = []
    for start in range(0, len(texts), batch_size):
        result = signature(text=tf.constant(texts[start:start + batch_size]))
        out += [t.decode("utf-8") for t in result["text"].numpy()]
    return out


def export_seq2seq(model, app, task, output, test_sources, metrics, num_beams=1, length_penalty=0.6,
                   extra_config=None, log=print):
    """Writes saved_models/APP/VERSION for `model` (a `Seq2SeqLM`); returns the export section.

    `test_sources`: inputs on which the reloaded SavedModel must give the Keras strings.
    `extra_config`: more keys for app.json (e.g. the language pair of a translation app).
    """
    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model

    reference = model.generate(list(test_sources), num_beams=num_beams, length_penalty=length_penalty)["text"]
    (generate, spec), (with_options, options_spec) = generation_functions(model, num_beams, length_penalty)
    config = {
        "format": FORMAT, "format_version": 1, "app": app, "task": task, "modality": "text",
        "signature": "generate", "outputs": list(OUTPUTS),
        "decoding": {"num_beams": int(num_beams), "length_penalty": float(length_penalty),
                     "max_length": model.target_length},
        "source_length": model.source_length, "target_length": model.target_length,
        "sequence_length": model.source_length, **(extra_config or {}),
    }
    model_dir = os.path.join(output, app)
    with serving_layout.staging_dir(model_dir) as staging:
        staged = os.path.join(staging, "model")
        log(f"{app}: writing the SavedModel (decoding inside the graph)")
        write_saved_model(staged, {"generate": (generate, spec)},
                          functions={"generate_with_options": (with_options, options_spec)},
                          assets={"app_file": ("app.json", json.dumps(config, indent=2, sort_keys=True))})
        exported = run_generate(staged, list(test_sources))
        matches = sum(a == b for a, b in zip(exported, reference))
        parity = {"saved_model": {"exact_match": matches / max(len(reference), 1), "examples": len(reference)}}
        if matches != len(reference):
            first = next(i for i, (a, b) in enumerate(zip(exported, reference)) if a != b)
            parity["saved_model"]["first_difference"] = {"keras": reference[first], "saved_model": exported[first]}
        extra = os.path.join(staged, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "parity.json"), "w", encoding="utf-8") as f:
            json.dump(parity, f, indent=2, sort_keys=True)
        for attempt in range(5):
            version = serving_layout.next_version(model_dir)
            final = os.path.join(model_dir, str(version))
            metrics["export"] = {"saved_model": final, "version": version, "parity": parity}
            with open(os.path.join(extra, "metrics.json"), "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=2, sort_keys=True)
            try:
                serving_layout.publish(staged, model_dir, version)
                break
            except ValueError:  # another export took this version meanwhile
                if attempt == 4:
                    raise
    log(f"{app}: published {final} (SavedModel = Keras on {matches}/{len(reference)} test inputs)")
    return metrics["export"]
