"""Text MLM training speed: mmpretrain vs KerasHub's BertMaskedLM at equal configuration.

    pip install -r benchmarks/requirements.txt
    python benchmarks/mlm_vs_kerashub.py [--preset small] [--sequence-length 128] [--batch 32]

Same layers, hidden size, heads, intermediate size, sequence length, batch, vocabulary and
max predictions; the same masked batches (built once by mmpretrain's masking); the same
dropout (0, as in mmpretrain's configs) and optimizer (AdamW, lr 1e-4). KerasHub trains with
`model.fit` (its intended use); mmpretrain with its training step. The two are timed in
alternating blocks (best block of each), so a busy machine slows both alike. Prints steps/s
of each and the ratio.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmpretrain.backbone import MultimodalBackbone  # noqa: E402
from mmpretrain.objectives.masking import mask_tokens  # noqa: E402
from mmpretrain.presets import backbone_preset  # noqa: E402
from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer  # noqa: E402


def masked_batches(count, batch, length, vocabulary, predictions):
    rng = np.random.default_rng(0)
    out = []
    for b in range(count):
        ids = rng.integers(5, vocabulary, size=(batch, length)).astype(np.int32)
        ids[:, 0], ids[:, -1] = 2, 3
        pad = np.ones((batch, length), bool)
        rows = [mask_tokens(ids[i], pad[i], tf.constant([b, i], tf.int64), vocabulary, 4, 5, 0.15, predictions)
                for i in range(batch)]
        masked = {k: tf.stack([r[k] for r in rows]) for k in rows[0]}
        masked["padding_mask"] = tf.constant(pad)
        masked["segment_ids"] = tf.zeros((batch, length), tf.int32)
        out.append(masked)
    return out


def ours(size, vocabulary, length, data, dtype):
    backbone = MultimodalBackbone(
        modalities={"text": {"vocabulary_size": vocabulary, "max_length": length}}, dtype=dtype, **size
    )
    model = MaskedPretrainer(backbone)
    optimizer = keras.optimizers.AdamW(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            sums = model.losses_of(batch, "text", training=True)
            loss = sums["loss"] / sums["count"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step(data[0])

    def block(steps):
        start = time.perf_counter()
        for i in range(steps):
            loss = step(data[i % len(data)])
        float(loss)
        return steps / (time.perf_counter() - start)

    return block, model.count_params()


def kerashub(size, vocabulary, length, data, dtype):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary, num_layers=size["num_layers"], num_heads=size["num_heads"],
        hidden_dim=size["hidden_dim"], intermediate_dim=size["intermediate_dim"],
        max_sequence_length=length, dropout=0.0, dtype=dtype,
    )
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])

    def as_keras(batch):
        x = {"token_ids": batch["token_ids"], "segment_ids": batch["segment_ids"],
             "padding_mask": batch["padding_mask"], "mask_positions": batch["mask_positions"]}
        return x, batch["mask_ids"], batch["mask_weights"]

    ds = tf.data.Dataset.from_tensor_slices([0]).repeat()
    batches = [as_keras(b) for b in data]
    ds = tf.data.Dataset.range(len(batches)).repeat()
    stacked = {k: tf.stack([b[0][k] for b in batches]) for k in batches[0][0]}
    ys, ws = tf.stack([b[1] for b in batches]), tf.stack([b[2] for b in batches])
    ds = ds.map(lambda i: ({k: v[i] for k, v in stacked.items()}, ys[i], ws[i]))
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace

    def block(steps):
        start = time.perf_counter()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        return steps / (time.perf_counter() - start)

    return block, model.count_params()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--max-predictions", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=3, help="alternating blocks per side")
    parser.add_argument("--dtype", default="float32", help="float32 or mixed_bfloat16 (both sides)")
    args = parser.parse_args()
    size = backbone_preset(args.preset)
    data = masked_batches(4, args.batch, args.sequence_length, args.vocabulary, args.max_predictions)
    keras.utils.set_random_seed(0)
    their_block, their_params = kerashub(size, args.vocabulary, args.sequence_length, data, args.dtype)
    my_block, my_params = ours(size, args.vocabulary, args.sequence_length, data, args.dtype)
    theirs = mine = 0.0
    for _ in range(args.rounds):
        theirs = max(theirs, their_block(args.steps))
        mine = max(mine, my_block(args.steps))
    print(f"config: {args.preset} {size}, seq {args.sequence_length}, batch {args.batch}, "
          f"vocab {args.vocabulary}, {args.dtype}")
    print(f"KerasHub BertMaskedLM: {theirs:.2f} steps/s ({their_params:,} parameters)")
    print(f"mmpretrain MLM:        {mine:.2f} steps/s ({my_params:,} parameters)")
    print(f"ratio mmpretrain / KerasHub: {mine / theirs:.2f}x")


if __name__ == "__main__":
    main()
