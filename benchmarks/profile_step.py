"""Where a pretraining step's time goes: matmuls vs everything else (a profile by subtraction).

    python benchmarks/profile_step.py [--preset small] [--precision bfloat16] [--op-profile]

Times, side by side on the same text MLM batch: (1) the full training step (forward, backward,
AdamW); (2) forward + backward without the optimizer; (3) forward only; (4) ONLY the step's
matmuls, at their real shapes and precision (forward, and the two backward matmuls of each).
(4) is what the step would cost if everything but matmuls were free: (4)/(1) is the share of
time in matmuls, and the matmuls' own GFLOP/s shows how far these shapes are from the peak.
With --op-profile, the TensorFlow profiler's time per op type (needs `xprof`, in
benchmarks/requirements.txt), IDLE being time the CPU threads waited between ops.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmpretrain.backbone import MultimodalBackbone  # noqa: E402
from mmpretrain.presets import backbone_preset  # noqa: E402
from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer  # noqa: E402


def best_time(fn, *args, repeats=10, rounds=3):
    fn(*args)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def matmul_shapes(batch, length, width, inner, heads, layers, predictions, vocabulary):
    """(m, k, n, count) of the forward matmuls of one text MLM step."""
    rows, dk = batch * length, width // heads
    shapes = []
    for _ in range(layers):
        shapes += [(rows, width, width, 4)]                  # Q, K, V, output projections
        shapes += [(length, dk, length, batch * heads)]      # Q K^T per head
        shapes += [(length, length, dk, batch * heads)]      # probs V per head
        shapes += [(rows, width, inner, 1), (rows, inner, width, 1)]  # feed-forward
    shapes += [(batch * predictions, width, width, 1), (batch * predictions, width, vocabulary, 1)]  # MLM head
    return shapes


def matmuls_only(shapes, dtype):
    """A function doing the forward matmuls and, per matmul, the two backward ones."""
    operands = []
    for m, k, n, count in shapes:
        a = tf.cast(tf.random.normal([count, m, k]), dtype)
        b = tf.cast(tf.random.normal([count, k, n]), dtype)
        g = tf.cast(tf.random.normal([count, m, n]), dtype)
        operands.append((a, b, g))

    @tf.function
    def run():
        total = tf.constant(0.0, dtype)
        for a, b, g in operands:
            total += tf.reduce_sum(tf.matmul(a, b)[:, :1, :1])
            total += tf.reduce_sum(tf.matmul(g, b, transpose_b=True)[:, :1, :1])  # d input
            total += tf.reduce_sum(tf.matmul(a, g, transpose_a=True)[:, :1, :1])  # d weight
        return total

    flops = sum(3 * 2 * m * k * n * count for m, k, n, count in shapes)
    return run, flops


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--precision", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--predictions", type=int, default=20)
    parser.add_argument("--op-profile", action="store_true", help="also print time per op type (xprof)")
    args = parser.parse_args()
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from mlm_vs_kerashub import masked_batches

    size = backbone_preset(args.preset)
    dtype = "mixed_bfloat16" if args.precision == "bfloat16" else "float32"
    keras.utils.set_random_seed(0)
    backbone = MultimodalBackbone(
        modalities={"text": {"vocabulary_size": args.vocabulary, "max_length": args.sequence_length}},
        dtype=dtype, **size,
    )
    model = MaskedPretrainer(backbone)
    optimizer = keras.optimizers.AdamW(1e-4)
    optimizer.build(model.trainable_variables)
    batch = masked_batches(1, args.batch, args.sequence_length, args.vocabulary, args.predictions)[0]

    @tf.function
    def forward(b):
        sums = model.losses_of(b, "text", training=True)
        return sums["loss"] / sums["count"]

    @tf.function
    def forward_backward(b):
        with tf.GradientTape() as tape:
            loss = forward(b)
        return tape.gradient(loss, model.trainable_variables)

    @tf.function
    def full_step(b):
        grads = forward_backward(b)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return grads[0]

    t_full = best_time(full_step, batch)
    t_fb = best_time(forward_backward, batch)
    t_f = best_time(forward, batch)
    shapes = matmul_shapes(args.batch, args.sequence_length, size["hidden_dim"], size["intermediate_dim"],
                           size["num_heads"], size["num_layers"], args.predictions, args.vocabulary)
    run, flops = matmuls_only(shapes, tf.bfloat16 if args.precision == "bfloat16" else tf.float32)
    t_mm = best_time(run)
    print(f"{args.preset} text MLM step, {args.precision}, batch {args.batch} x {args.sequence_length}")
    print(f"  full step (fwd + bwd + AdamW): {t_full * 1e3:7.1f} ms")
    print(f"  forward + backward:            {t_fb * 1e3:7.1f} ms  (optimizer {1 - t_fb / t_full:.0%} of the step)")
    print(f"  forward only:                  {t_f * 1e3:7.1f} ms")
    print(f"  its matmuls alone:             {t_mm * 1e3:7.1f} ms  ({t_mm / t_full:.0%} of the step; "
          f"{flops / t_mm / 1e9:.0f} GFLOP/s at these shapes)")
    print(f"  everything else (norms, GELU, softmax, casts, masking, gathers, AdamW): "
          f"{(t_full - t_mm) * 1e3:.1f} ms ({1 - t_mm / t_full:.0%})")
    print(f"  model FLOP/s of the full step: {flops / t_full / 1e9:.0f} GFLOP/s")
    if args.op_profile:
        op_profile(full_step, batch)


def op_profile(step, batch, steps=5, top=12):
    """Self time per op type over `steps` steps, from the TensorFlow profiler (xprof)."""
    import collections
    import glob
    import json
    import tempfile

    from xprof.convert import raw_to_tool_data

    logdir = tempfile.mkdtemp(prefix="mmpretrain-profile-")
    tf.profiler.experimental.start(logdir)
    for _ in range(steps):
        step(batch)[0].numpy()
    tf.profiler.experimental.stop()
    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    data, _ = raw_to_tool_data.xspace_to_tool_data(paths, "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    by_type = collections.Counter()
    for row in table["rows"]:
        values = dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]]))
        by_type[values["type"]] += values["total_self_time"] or 0
    total = sum(by_type.values())
    print(f"  op types by self time ({steps} steps, all CPU threads):")
    for name, micros in by_type.most_common(top):
        print(f"    {name:<36}{micros / total:6.1%}")


if __name__ == "__main__":
    main()
