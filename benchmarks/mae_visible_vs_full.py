"""MAE speed: encoding only the visible patches vs encoding every patch with mask tokens.

    python benchmarks/mae_visible_vs_full.py [--preset small] [--batch 32] [--patches 196]

Both variants train the same backbone + MAE decoder on the same batches at 75 % masking; the
"full" variant (BEiT/SimMIM style) replaces masked patches by a learned mask token and runs the
encoder on all N patches. Prints training steps/s of each and the ratio, measured side by side.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmpretrain.backbone import MultimodalBackbone  # noqa: E402
from mmpretrain.objectives.masking import mask_patches  # noqa: E402
from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer  # noqa: E402


def batches(num, batch, patches, patch_dim, ratio):
    rng = np.random.default_rng(0)
    out = []
    for b in range(num):
        x = rng.normal(size=(batch, patches, patch_dim)).astype(np.float32)
        examples = [mask_patches(x[i], np.ones(patches, bool), tf.constant([b, i], tf.int64), ratio) for i in range(batch)]
        out.append({k: tf.stack([e[k] for e in examples]) for k in examples[0]})
    return out


def make_steps(model, mask_token):
    optimizer = keras.optimizers.AdamW(1e-4)
    optimizer.build(model.trainable_variables + [mask_token])
    backbone = model.backbone

    @tf.function
    def visible_step(batch):
        with tf.GradientTape() as tape:
            sums = model.losses_of(batch, "image", training=True)
            loss = sums["loss"] / sums["count"]
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return loss

    @tf.function
    def full_step(batch, all_patches, is_masked):
        with tf.GradientTape() as tape:
            tokens = backbone.embedders["image"](all_patches)  # [B, N, D]
            tokens = tf.where(is_masked[..., None], tf.cast(mask_token, tokens.dtype), tokens)
            mask = tf.ones(tf.shape(tokens)[:2], tf.bool)
            sequence = backbone.encode_tokens(tokens, mask, "image", training=True)["sequence_output"]
            picked = tf.gather(sequence, batch["masked_positions"], batch_dims=1)
            predictions = model.heads["image"].output_projection(model.heads["image"].norm(
                model.heads["image"].input_projection(picked)))
            loss = tf.reduce_mean(tf.square(predictions - batch["targets"]))
        variables = model.trainable_variables + [mask_token]
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return loss

    return visible_step, full_step


def timed(fn, items, repeats):
    fn(*items[0])  # trace
    start = time.perf_counter()
    for r in range(repeats):
        fn(*items[r % len(items)])
    return repeats / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--patches", type=int, default=196, help="patches per image (196 = 224/16 or 56/4)")
    parser.add_argument("--patch-dim", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    backbone = MultimodalBackbone.from_preset(
        args.preset, modalities={"image": {"patch_dim": args.patch_dim, "max_patches": args.patches}}
    )
    model = MaskedPretrainer(backbone)
    mask_token = tf.Variable(tf.zeros([backbone.hidden_dim]), name="encoder_mask_token")
    visible_step, full_step = make_steps(model, mask_token)
    data = batches(3, args.batch, args.patches, args.patch_dim, 0.75)
    full_inputs = []
    for b in data:
        n = args.patches
        all_patches = tf.random.normal([args.batch, n, args.patch_dim])
        is_masked = tf.reduce_any(tf.one_hot(b["masked_positions"], n, dtype=tf.int32) > 0, axis=1)
        full_inputs.append((b, all_patches, is_masked))
    visible = timed(visible_step, [(b,) for b in data], args.repeats)
    full = timed(full_step, full_inputs, args.repeats)
    nv = data[0]["patches"].shape[1]
    print(f"preset={args.preset} batch={args.batch} patches={args.patches} (visible {nv}, 75% masked)")
    print(f"visible-only encoder: {visible:.2f} steps/s")
    print(f"full encoder + mask tokens: {full:.2f} steps/s")
    print(f"speedup visible-only / full: {visible / full:.2f}x")


if __name__ == "__main__":
    main()
