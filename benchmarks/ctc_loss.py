"""CTC loss + gradient on CPU: `keras.ops.ctc_loss` (dense labels) vs `ctc_losses` (sparse labels).

    python benchmarks/ctc_loss.py

A batch the speech-to-text app trains on (16 clips of 6 s: 150 CTC frames, 29 classes, labels of
30-60 characters). Prints milliseconds per call of each, side by side, their ratio and the largest
loss difference. Run it with nothing else on the machine.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    import keras
    import numpy as np
    import tensorflow as tf

    from mmpretrain.tasks.ctc_recognizer import ctc_losses

    rng = np.random.default_rng(0)
    batch, frames, classes, longest = 16, 150, 29, 60
    logits = tf.Variable(rng.normal(size=[batch, frames, classes]).astype(np.float32))
    labels = tf.constant(rng.integers(1, classes, [batch, longest]), tf.int32)
    label_lengths = tf.constant(rng.integers(30, longest, [batch]), tf.int32)
    frame_lengths = tf.fill([batch], frames)

    def timed(loss_fn):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(loss_fn())
            return loss, tape.gradient(loss, logits)

        step()
        started = time.perf_counter()
        for _ in range(20):
            step()
        return (time.perf_counter() - started) / 20 * 1000

    dense = lambda: keras.ops.ctc_loss(labels, logits, label_lengths, frame_lengths, mask_index=0)  # noqa: E731
    sparse = lambda: ctc_losses(labels, label_lengths, logits, frame_lengths)  # noqa: E731
    dense_ms, sparse_ms = timed(dense), timed(sparse)
    difference = float(tf.reduce_max(tf.abs(dense() - sparse())))
    print(f"keras.ops.ctc_loss (dense labels)  {dense_ms:8.1f} ms per loss + gradient")
    print(f"ctc_losses (sparse labels)         {sparse_ms:8.1f} ms   ({dense_ms / sparse_ms:.1f}x faster)")
    print(f"largest loss difference {difference:.2e} (losses up to {float(tf.reduce_max(dense())):.0f})")


if __name__ == "__main__":
    main()
