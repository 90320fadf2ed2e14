"""A sequence-to-sequence app's export: a SavedModel whose `generate` signature decodes inside.

    saved_models/APP/VERSION/
      saved_model.pb  variables/     generate (= serving_default): text string [B] ->
                                         text string [B], score float32 [B]
                                     generate_with_options (a function, not served):
                                         {text [B], max_length int32 [], num_beams int32 [],
                                          length_penalty float32 []} -> {text, score}
      assets/app.json                task, decoding defaults, lengths, languages
      assets.extra/metrics.json  assets.extra/parity.json
      assets.extra/tflite/APP_encode_float32.tflite       text [B] -> memory, source_mask, source_ids
      assets.extra/tflite/APP_decode_step_float32.tflite  {decoder_ids [B, T], memory, source_mask,
                                                           source_ids, step [1]} -> log_probs [B, V]

`generate` uses the app's decoding (greedy or beam search, its length penalty, its
no-repeat n-gram size and the model's full target length); `generate_with_options` is what the pipelines call when a caller passes
`max_length`, `num_beams` or `length_penalty` (always beam search, which at one beam equals
greedy decoding). The SavedModel needs only tensorflow and tensorflow_text to load.

Parity: the staged SavedModel is reloaded and its `generate` strings are compared with the Keras
model's on the given test inputs (exact string match); the published version is the staged
directory moved in with one rename (`mmpretrain.export.serving_layout`). TFLite holds builtin ops
plus tf.text's kernels only (`check_tflite_ops`); decoding runs on the host around the step model
(`tflite_greedy_ids`: a few lines of numpy), and parity compares its greedy token ids with the
Keras model's on the same inputs.
"""

import json
import os

OUTPUTS = ("text", "score")
FORMAT = "mmpretrain.app"


def generation_functions(model, num_beams, length_penalty, no_repeat_ngram_size=0):
    """(generate, generate_with_options) as one-argument functions for `write_saved_model`."""
    import tensorflow as tf

    def generate(text):
        out = model.generate_graph(text, model.target_length, int(num_beams), float(length_penalty),
                                   int(no_repeat_ngram_size))
        return {"text": out["text"], "score": out["score"]}

    def generate_with_options(inputs):
        max_length = tf.clip_by_value(tf.cast(inputs["max_length"], tf.int32), 1, model.target_length)
        beams = tf.clip_by_value(tf.cast(inputs["num_beams"], tf.int32), 1, 16)
        out = model.generate_graph(inputs["text"], max_length, beams, tf.cast(inputs["length_penalty"], tf.float32),
                                   int(no_repeat_ngram_size))
        return {"text": out["text"], "score": out["score"]}

    text = tf.TensorSpec([None], tf.string, name="text")
    options = {"text": text, "max_length": tf.TensorSpec([], tf.int32), "num_beams": tf.TensorSpec([], tf.int32),
               "length_penalty": tf.TensorSpec([], tf.float32)}
    return (generate, text), (generate_with_options, options)


def tflite_functions(model):
    """(encode, decode_step) for TFLite, each (fn, spec): the encoder on raw strings, and one
    decoder step on the whole target buffer (greedy or beam search then runs on the host)."""
    import tensorflow as tf

    def encode(text):
        source_ids, source_mask = model.tokenize_sources(text)
        memory = model.encode(source_ids, source_mask, training=False)
        return {"memory": memory, "source_mask": tf.cast(source_mask, tf.int32), "source_ids": source_ids}

    def decode_step(inputs):
        log_probs = model._step_log_probs(  # noqa: SLF001 (the model's own step)
            tf.cast(inputs["decoder_ids"], tf.int32), tf.cast(inputs["step"], tf.int32)[0], inputs["memory"],
            tf.cast(inputs["source_mask"], tf.bool), inputs["source_ids"])
        return {"log_probs": log_probs}

    width = model.backbone.hidden_dim
    step_spec = {
        "decoder_ids": tf.TensorSpec([None, model.target_length], tf.int32),
        "memory": tf.TensorSpec([None, model.source_length, width], tf.float32),
        "source_mask": tf.TensorSpec([None, model.source_length], tf.int32),
        "source_ids": tf.TensorSpec([None, model.source_length], tf.int32),
        "step": tf.TensorSpec([1], tf.int32),
    }
    return (encode, tf.TensorSpec([None], tf.string, name="text")), (decode_step, step_spec)


def tflite_greedy_ids(encoder_content, step_content, texts, target_length, max_length=None):
    """Greedy decoding with the two TFLite files, the loop in numpy -> ids [B, T] (int32)."""
    import numpy as np

    from mmpretrain.export.tflite_export import make_interpreter
    from mmpretrain.tasks.seq2seq import BOS_ID, EOS_ID, PAD_ID

    encode = make_interpreter(encoder_content).get_signature_runner("encode")
    step_runner = make_interpreter(step_content).get_signature_runner("decode_step")
    encoded = encode(text=np.asarray(texts, dtype=object))
    rows = len(texts)
    decoder_ids = np.zeros([rows, target_length], np.int32)
    decoder_ids[:, 0] = BOS_ID
    out = np.zeros([rows, target_length], np.int32)
    finished = np.zeros([rows], bool)
    for step in range(max_length or target_length):
        log_probs = step_runner(decoder_ids=decoder_ids, memory=encoded["memory"],
                                source_mask=encoded["source_mask"], source_ids=encoded["source_ids"],
                                step=np.asarray([step], np.int32))["log_probs"]
        token = np.where(finished, PAD_ID, np.argmax(log_probs, axis=-1)).astype(np.int32)
        out[:, step] = token
        if step + 1 < target_length:
            decoder_ids[:, step + 1] = token
        finished |= token == EOS_ID
        if finished.all():
            break
    return out


def write_tflite(model, staging, folder, app, texts):
    """Converts encode + decode_step (float32), checks the ops, and compares greedy TFLite ids
    with Keras on `texts`; returns the parity report."""
    import numpy as np
    import tensorflow as tf

    from mmpretrain.export.saved_model_writer import write_saved_model
    from mmpretrain.export.tflite_export import check_tflite_ops, convert

    source = os.path.join(staging, "tflite_source")
    (encode, text_spec), (step, step_spec) = tflite_functions(model)
    write_saved_model(source, {"encode": (encode, text_spec), "decode_step": (step, step_spec)})
    os.makedirs(folder, exist_ok=True)
    contents, report = {}, {}
    for part in ("encode", "decode_step"):
        contents[part] = convert(source, part, "float32")
        file = f"{app}_{part}_float32.tflite"
        with open(os.path.join(folder, file), "wb") as f:
            f.write(contents[part])
        report[part] = {"file": file, "bytes": len(contents[part]), "ops": check_tflite_ops(contents[part], file)}
    source_ids, source_mask = model.tokenize_sources(tf.constant(list(texts)))
    keras_ids, _ = model.greedy_ids(source_ids, source_mask, model.target_length, 0.6)
    lite_ids = tflite_greedy_ids(contents["encode"], contents["decode_step"], list(texts), model.target_length)
    same = np.all(lite_ids == keras_ids.numpy(), axis=1)
    report["greedy"] = {"identical_outputs": float(np.mean(same)), "examples": int(len(texts))}
    return report


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
                   extra_config=None, tflite=True, no_repeat_ngram_size=0, log=print):
    """Writes saved_models/APP/VERSION for `model` (a `Seq2SeqLM`); returns the export section.

    `test_sources`: inputs on which the reloaded SavedModel must give the Keras strings.
    `extra_config`: more keys for app.json (e.g. the language pair of a translation app).
    """
    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model

    reference = model.generate(list(test_sources), num_beams=num_beams, length_penalty=length_penalty,
                               no_repeat_ngram_size=no_repeat_ngram_size)["text"]
    (generate, spec), (with_options, options_spec) = generation_functions(model, num_beams, length_penalty,
                                                                          no_repeat_ngram_size)
    config = {
        "format": FORMAT, "format_version": 1, "app": app, "task": task, "modality": "text",
        "signature": "generate", "outputs": list(OUTPUTS),
        "decoding": {"num_beams": int(num_beams), "length_penalty": float(length_penalty),
                     "max_length": model.target_length, "no_repeat_ngram_size": int(no_repeat_ngram_size)},
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
        parity = {"saved_model": serving_layout.string_parity(exported, reference)}
        matches = sum(a == b for a, b in zip(exported, reference))
        extra = os.path.join(staged, "assets.extra")
        if tflite:
            log(f"{app}: converting the encoder and one decoder step to TFLite, greedy decoding against Keras")
            parity["tflite"] = write_tflite(model, staging, os.path.join(extra, "tflite"), app, list(test_sources))
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "parity.json"), "w", encoding="utf-8") as f:
            json.dump(parity, f, indent=2, sort_keys=True)
        final = serving_layout.publish_app(staged, model_dir, metrics, parity)["saved_model"]
    log(f"{app}: published {final} (SavedModel = Keras on {matches}/{len(reference)} test inputs)")
    return metrics["export"]
