"""Pretraining throughput and model FLOP utilisation against this machine's matmul peak.

    python benchmarks/pretrain_throughput.py [--presets tiny small] [--steps 30]

1. Measures the matmul peak (4096 x 4096, float32 and bfloat16) on this machine.
2. For each preset and precision, runs the REAL pretraining step (`PretrainingRun`'s
   distributed train step, input pipeline included) on each modality and reports tokens (or
   patches) per second through the encoder, achieved model FLOP/s and the ratio to the peak of
   the same precision (MFU).

Model FLOPs are counted analytically (matmuls only, forward x 3 for training):
encoder layer per token 8*D^2 + 4*D*I + 4*N*D; MLM head per masked position 2*D^2 + 2*D*V;
MAE decoder per decoder token the same layer formula at its own width plus the projections.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def matmul_peak(dtype, size=4096, repeats=10):
    a = tf.random.normal([size, size], dtype=tf.float32)
    a = tf.cast(a, dtype)

    @tf.function
    def chain(x):
        for _ in range(repeats):
            x = tf.matmul(x, a) * tf.cast(1e-3, dtype)
        return x

    chain(a).numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        chain(a).numpy()
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start))
    return best


def layer_flops(tokens, length, width, inner):
    """Forward matmul FLOPs of one Transformer layer over `tokens` tokens in sequences of `length`."""
    return tokens * (8 * width * width + 4 * width * inner + 4 * length * width)


def step_flops(run, modality, batch):
    """Training FLOPs (3 x forward) of one step of `modality` on one batch."""
    backbone, config = run.backbone, run.config
    d, i, layers = backbone.hidden_dim, backbone.intermediate_dim, backbone.num_layers
    if modality == "text":
        n = batch["token_ids"].shape[1]
        b = batch["token_ids"].shape[0]
        p = batch["mask_positions"].shape[1]
        v = run.preprocessors["text"].vocabulary_size
        forward = layers * layer_flops(b * n, n, d, i) + b * p * (2 * d * d + 2 * d * v)
        return 3 * forward, b * n
    b, nv, patch_dim = batch["patches"].shape
    nm = batch["masked_positions"].shape[1]
    dd = config.decoder_dim
    forward = 2 * b * nv * patch_dim * d + layers * layer_flops(b * nv, nv, d, i)
    forward += 2 * b * nv * d * dd + config.decoder_layers * layer_flops(b * (nv + nm), nv + nm, dd, 4 * dd)
    forward += 2 * b * nm * dd * patch_dim
    return 3 * forward, b * nv


def synthetic_raw(n_text=2000, n_images=2000, n_audio=64, seed=0):
    rng = np.random.default_rng(seed)
    try:  # real text (a realistic vocabulary) when the embedded corpus is there
        from mmpretrain.data import corpus_texts
        from mmpretrain.training.pretraining_data import text_chunks

        texts = text_chunks(corpus_texts()[::7][: 4 * n_text], 80)[:n_text]
    except Exception:  # noqa: BLE001 - fall back to shuffled words of this file
        words = [w for w in open(__file__).read().split() if w.isalpha()]
        texts = [" ".join(rng.choice(words, size=80)) for _ in range(n_text)]
    images = rng.integers(0, 256, size=(n_images, 28, 28, 1), dtype=np.uint8)
    audio = [rng.normal(scale=0.1, size=32000).astype(np.float32) for _ in range(n_audio)]
    raw = {"text": texts, "image": images, "audio": audio}
    return raw, {k: v[:64] for k, v in raw.items()}


def measure(preset, mixed, steps, run_dir, batch=None):
    from mmpretrain.training.config import load_config
    from mmpretrain.training.pretraining_run import PretrainingRun

    config = load_config(preset).replace(
        mixed_precision=mixed, steps=10_000, warmup_steps=10, validation_examples=64,
        text_examples=2000, image_examples=2000, audio_examples=64,
    )
    if batch:
        config = config.replace(global_batch_size=batch)
    import keras

    keras.mixed_precision.set_global_policy("float32")
    run = PretrainingRun(config, run_dir, fresh=True, progress=False)
    train, validation = synthetic_raw()
    run.prepare(train, validation)
    run.build()
    results = {}
    for modality in config.modalities:
        iterator = run.sources[modality].distributed(run.strategy, config.global_batch_size, 0)
        sample = next(iter(run.sources[modality].dataset(0, config.global_batch_size, config.global_batch_size)))
        flops, tokens = step_flops(run, modality, sample)
        run.train_steps[modality](iterator)  # trace
        start = time.perf_counter()
        for _ in range(steps):
            out = run.train_steps[modality](iterator)
        float(out["loss"])
        seconds = (time.perf_counter() - start) / steps
        results[modality] = (1 / seconds, tokens / seconds, flops / seconds)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--run-dir", default=os.path.join("runs", "benchmark-throughput"))
    parser.add_argument("--batch", type=int, default=None, help="global batch (default: the preset's config)")
    args = parser.parse_args()
    peaks = {"float32": matmul_peak(tf.float32), "bfloat16": matmul_peak(tf.bfloat16)}
    print(f"matmul peak: float32 {peaks['float32'] / 1e9:.0f} GFLOP/s, bfloat16 {peaks['bfloat16'] / 1e9:.0f} GFLOP/s")
    print(f"{'preset':<7}{'precision':<11}{'modality':<9}{'steps/s':>8}{'tokens/s':>11}{'GFLOP/s':>9}{'MFU':>7}")
    for preset in args.presets:
        for mixed in (False, True):
            precision = "bfloat16" if mixed else "float32"
            results = measure(preset, mixed, args.steps, args.run_dir, args.batch)
            for modality, (rate, tokens, flops) in results.items():
                mfu = flops / peaks[precision]
                print(f"{preset:<7}{precision:<11}{modality:<9}{rate:8.2f}{tokens:11.0f}{flops / 1e9:9.1f}{mfu:7.1%}")
            # The pretraining job as a whole: steps follow the config's mixing cycle.
            from mmpretrain.training.config import load_config

            cycle = load_config(preset).schedule()
            seconds = sum(1 / results[m][0] for m in cycle)
            flops = sum(results[m][2] / results[m][0] for m in cycle)
            print(f"{preset:<7}{precision:<11}{'mix':<9}{len(cycle) / seconds:8.2f}{'':>11}"
                  f"{flops / seconds / 1e9:9.1f}{flops / seconds / peaks[precision]:7.1%}")


if __name__ == "__main__":
    main()
