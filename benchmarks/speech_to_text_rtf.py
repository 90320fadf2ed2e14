"""Real-time factor of the speech-to-text model: Keras vs the exported SavedModel vs TFLite, side by side.

    python benchmarks/speech_to_text_rtf.py saved_models/speech_to_text --clips 50 [--keras RUN/model.keras]

The clips are the app's test split (unseen espeak-ng voices) for the model's own pretraining run
and split seed, as metrics.json records them. Prints seconds of compute per second of audio
(lower is faster; 1.0 is real time) for: the Keras model (batch 32 and one clip at a time), the
reloaded SavedModel's `transcribe` (one clip at a time) and the TFLite acoustic model with greedy
decoding in numpy (one clip at a time), then their ratios. Run it with nothing else on the machine.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="saved_models/speech_to_text or one of its version directories")
    parser.add_argument("--keras", default=None,
                        help="the app run's model.keras (default runs/apps/speech_to_text/<init>-seed<seed>/)")
    parser.add_argument("--clips", type=int, default=50)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from apps.speech_to_text.train import build_parser, load_speech
    from mmpretrain.export.ctc_export import padded, tflite_log_probs
    from mmpretrain.export.model_dirs import resolve_model_dir
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.ctc_recognizer import greedy_alignment

    version = resolve_model_dir(args.model, "speech-to-text model")
    with open(os.path.join(version, "assets.extra", "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    keras_file = args.keras or os.path.join("runs", "apps", "speech_to_text",
                                            f"{metrics['initialization']}-seed{metrics['seed']}", "model.keras")
    model = keras.saving.load_model(keras_file)
    app_args = build_parser().parse_args(["--split-seed", str(metrics["split_seed"]), "--max-seconds",
                                          str(model.preprocessor.max_seconds), "--quiet"])
    speech = load_speech(load_run(metrics["run"]).config, app_args)
    clips = speech.clips["test"][: args.clips]
    audio = sum(len(c) for c in clips) / 16000.0
    signature = tf.saved_model.load(version).signatures["transcribe"]
    with open(os.path.join(version, "assets.extra", "tflite", "speech_to_text_acoustic_float32.tflite"), "rb") as f:
        lite = f.read()

    def saved_model_one_by_one():
        for clip in clips:
            batch = padded([clip], None)
            signature(waveforms=tf.constant(batch["waveforms"]), lengths=tf.constant(batch["lengths"]))

    def tflite_one_by_one():
        for log_probs in tflite_log_probs(lite, clips, model.preprocessor.max_samples):
            greedy_alignment(log_probs)

    runs = {
        "keras, batch 32": lambda: model.transcribe(clips, batch_size=32),
        "keras, one clip at a time": lambda: model.transcribe(clips, batch_size=1),
        "SavedModel transcribe, one at a time": saved_model_one_by_one,
        "TFLite float32 + numpy greedy, one at a time": tflite_one_by_one,
    }
    results = {}
    for name, run in runs.items():
        run()  # warm-up: tracing, interpreter set-up
        started = time.perf_counter()
        run()
        results[name] = (time.perf_counter() - started) / audio
    print(f"{len(clips)} clips, {audio:.1f} s of audio, {os.cpu_count()} CPU cores")
    base = results["keras, one clip at a time"]
    for name, rtf in results.items():
        print(f"  {name:<46} real-time factor {rtf:.4f}   ({base / rtf:.2f}x the one-clip Keras speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
