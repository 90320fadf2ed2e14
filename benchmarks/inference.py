"""Inference: exported SavedModel vs TFLite float32 vs TFLite int8, per modality.

    python benchmarks/inference.py [--model saved_models/mmpretrain_tiny] [--version N]

Latency at batch 1 (median of repeated calls) and throughput at batch 32 (examples/s), each
format measured side by side in one run on the same real inputs (sentences, Fashion-MNIST-sized
images, synthesized speech). Build the export first with `make demo` (or `mmpretrain export`).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401


def inputs_for(modality, batch, image_shape):
    rng = np.random.default_rng(0)
    if modality == "text":
        words = "the quick brown fox jumps over the lazy dog while a small bird sings".split()
        return {"text": np.array([" ".join(rng.choice(words, 12)).encode() for _ in range(batch)], dtype=object)}
    if modality == "image":
        return {"images": rng.integers(0, 256, size=(batch, *image_shape), dtype=np.uint8)}
    waves = (0.1 * rng.normal(size=(batch, 16000))).astype(np.float32)
    return {"waveforms": waves, "lengths": np.full((batch,), 16000, np.int32)}


def timed(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join("saved_models", "mmpretrain_tiny"))
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    from ai_edge_litert import interpreter as litert

    version = args.version or max(int(v) for v in os.listdir(args.model) if v.isdigit())
    path = os.path.join(args.model, str(version))
    loaded = tf.saved_model.load(path)
    print(f"model: {path}")
    print(f"{'modality':<9}{'format':<16}{'batch-1 ms':>11}{'batch-32 ex/s':>15}{'speedup b1':>12}")
    for modality in ("text", "image", "audio"):
        signature = loaded.signatures.get(f"serve_{modality}")
        if signature is None:
            continue
        tflite = {q: os.path.join(path, "assets.extra", "tflite", f"{modality}_{q}.tflite") for q in ("float32", "int8")}
        runners = {}
        for q, file in tflite.items():
            interpreter = litert.InterpreterWithCustomOps(
                model_path=file, custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS
            )
            runners[q] = interpreter.get_signature_runner()
        image_shape = None
        if modality == "image":
            detail = runners["float32"].get_input_details()["images"]
            image_shape = tuple(int(s) for s in detail["shape"][1:])
        rows = {}
        for batch in (1, 32):
            feed = inputs_for(modality, batch, image_shape)
            tf_feed = {k: tf.constant(v) for k, v in feed.items()}
            rows.setdefault("SavedModel", []).append(timed(lambda: signature(**tf_feed), args.repeats))
            for q, runner in runners.items():
                rows.setdefault(f"TFLite {q}", []).append(timed(lambda r=runner: r(**feed), args.repeats))
        base = rows["SavedModel"][0]
        for name, (one, many) in rows.items():
            print(f"{modality:<9}{name:<16}{one * 1e3:11.2f}{32 / many:15.0f}{base / one:11.2f}x")


if __name__ == "__main__":
    main()
