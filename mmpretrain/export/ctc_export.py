"""The speech-to-text app's export: a SavedModel whose `transcribe` signature decodes inside.

    saved_models/speech_to_text/VERSION/
      saved_model.pb  variables/   transcribe (= serving_default): {waveforms float32 [B, T] at 16 kHz,
                                       lengths int32 [B]} -> text string [B]
                                   ctc_logits: the same inputs -> log_probs float32 [B, F, C],
                                       frame_lengths int32 [B]   (chunked audio, word timestamps)
      assets/app.json              task, alphabet, frame seconds, max seconds, decoding
      assets.extra/metrics.json  assets.extra/parity.json
      assets.extra/tflite/speech_to_text_acoustic_float32.tflite
                                   {waveforms, lengths} -> log_probs, frame_lengths (builtin ops)

Clips longer than the model's `max_seconds` keep their first `max_seconds` in `transcribe`; the
pipeline chunks long audio over `ctc_logits` instead. Decoding: greedy or beam search
(`keras.ops.ctc_decode`) as the app chose. The SavedModel needs only tensorflow to load.

Parity: the staged SavedModel is reloaded and its `transcribe` strings are compared with the
Keras model's on the given clips (exact string match); TFLite log-probabilities are decoded
greedily in numpy (`mmpretrain.tasks.ctc_recognizer.greedy_alignment`) and compared with Keras's
greedy transcripts. The published version is the staged directory moved in with one rename.
"""

import json
import os

FORMAT = "mmpretrain.app"
TASK = "automatic-speech-recognition"


def _specs():
    import tensorflow as tf

    return {"waveforms": tf.TensorSpec([None, None], tf.float32), "lengths": tf.TensorSpec([None], tf.int32)}


def endpoint_functions(model, beam_width):
    """(transcribe, ctc_logits) as one-argument functions for `write_saved_model`."""
    import tensorflow as tf

    def transcribe(inputs):
        text, _ = model.transcribe_graph(inputs["waveforms"], inputs["lengths"], int(beam_width))
        return {"text": text}

    def ctc_logits(inputs):
        logits, frames = model.logits_graph(inputs["waveforms"], inputs["lengths"])
        return {"log_probs": tf.nn.log_softmax(logits, axis=-1), "frame_lengths": frames}

    return (transcribe, _specs()), (ctc_logits, _specs())


def padded(clips, max_samples):
    from mmpretrain.modalities.audio_io import pad_batch

    return pad_batch(list(clips), max_samples)


def run_transcribe(path, clips, max_samples, batch_size=32):
    """The reloaded SavedModel's `transcribe` strings for float32 clips."""
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["transcribe"]
    out = []
    for start in range(0, len(clips), batch_size):
        batch = padded(clips[start:start + batch_size], max_samples)
        result = signature(waveforms=tf.constant(batch["waveforms"]), lengths=tf.constant(batch["lengths"]))
        out += [t.decode("utf-8") for t in result["text"].numpy()]
    return out


def tflite_log_probs(content, clips, max_samples):
    """The TFLite acoustic model's log-probabilities [F_i, C] per clip (one clip at a time)."""
    from mmpretrain.export.tflite_export import make_interpreter

    runner = make_interpreter(content).get_signature_runner("acoustic")
    out = []
    for clip in clips:
        batch = padded([clip], max_samples)
        result = runner(waveforms=batch["waveforms"], lengths=batch["lengths"])
        out.append(result["log_probs"][0][: int(result["frame_lengths"][0])])
    return out


def write_tflite(model, staging, folder, app, clips, reference):
    """Converts the acoustic model (float32), checks its ops, and compares its greedy transcripts
    (decoded in numpy) and its log-probabilities with Keras on `clips`; returns the parity report."""
    import numpy as np
    import tensorflow as tf

    from mmpretrain.export.saved_model_writer import write_saved_model
    from mmpretrain.export.tflite_export import check_tflite_ops, convert
    from mmpretrain.tasks.ctc_recognizer import greedy_alignment

    source = os.path.join(staging, "tflite_source")
    _, (logits, spec) = endpoint_functions(model, 1)
    write_saved_model(source, {"acoustic": (logits, spec)})
    content = convert(source, "acoustic", "float32")
    os.makedirs(folder, exist_ok=True)
    file = f"{app}_acoustic_float32.tflite"
    with open(os.path.join(folder, file), "wb") as f:
        f.write(content)
    lite = tflite_log_probs(content, clips, model.preprocessor.max_samples)
    texts = [greedy_alignment(log_probs)[0] for log_probs in lite]
    difference = 0.0
    for clip, log_probs in zip(clips, lite):
        batch = padded([clip], model.preprocessor.max_samples)
        keras_logits, frames = model.logits_graph(tf.constant(batch["waveforms"]), tf.constant(batch["lengths"]))
        want = tf.nn.log_softmax(keras_logits, axis=-1).numpy()[0][: int(frames[0])]
        difference = max(difference, float(np.max(np.abs(want - log_probs))))
    same = sum(a == b for a, b in zip(texts, reference))
    return {"file": file, "bytes": len(content), "ops": check_tflite_ops(content, file),
            "greedy": {"identical_outputs": same / max(len(reference), 1), "examples": len(reference)},
            "max_abs_log_prob_difference": difference}


def export_ctc(model, app, output, test_clips, metrics, beam_width=1, tflite=True, log=print):
    """Writes saved_models/APP/VERSION for `model` (a `CTCRecognizer`); returns the export section.

    `test_clips`: float32 clips on which the reloaded SavedModel must give the Keras strings.
    """
    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model
    from mmpretrain.tasks.ctc_recognizer import ALPHABET

    clips = list(test_clips)
    reference = model.transcribe(clips, beam_width=beam_width)
    (transcribe, spec), (logits, logits_spec) = endpoint_functions(model, beam_width)
    p = model.preprocessor
    config = {
        "format": FORMAT, "format_version": 1, "app": app, "task": TASK, "modality": "audio",
        "signature": "transcribe", "outputs": ["text"], "alphabet": ALPHABET, "blank_id": 0,
        "frame_seconds": model.frame_seconds, "max_seconds": p.max_seconds, "max_audio_seconds": p.max_seconds,
        "sample_rate": p.sample_rate, "time_patch_samples": p.hop_length * p.patch_time, "upsample": model.upsample,
        "decoding": {"beam_width": int(beam_width)},
    }
    model_dir = os.path.join(output, app)
    with serving_layout.staging_dir(model_dir) as staging:
        staged = os.path.join(staging, "model")
        log(f"{app}: writing the SavedModel (CTC decoding inside the graph)")
        write_saved_model(staged, {"transcribe": (transcribe, spec), "ctc_logits": (logits, logits_spec)},
                          assets={"app_file": ("app.json", json.dumps(config, indent=2, sort_keys=True))})
        exported = run_transcribe(staged, clips, p.max_samples)
        parity = {"saved_model": serving_layout.string_parity(exported, reference)}
        matches = sum(a == b for a, b in zip(exported, reference))
        extra = os.path.join(staged, "assets.extra")
        if tflite:
            log(f"{app}: converting the acoustic model to TFLite, greedy transcripts against Keras")
            greedy = reference if beam_width == 1 else model.transcribe(clips, beam_width=1)
            parity["tflite"] = write_tflite(model, staging, os.path.join(extra, "tflite"), app, clips, greedy)
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "parity.json"), "w", encoding="utf-8") as f:
            json.dump(parity, f, indent=2, sort_keys=True)
        final = serving_layout.publish_app(staged, model_dir, metrics, parity)["saved_model"]
    log(f"{app}: published {final} (SavedModel = Keras on {matches}/{len(reference)} test clips)")
    return metrics["export"]
