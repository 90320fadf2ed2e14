"""A tiny pretraining job in its own process, for the distribution and kill/resume tests.

    python tests/workers/pretrain_worker.py RUN_DIR OUT.npz --strategy one_device|mirrored|multi_worker
        [--devices N] [--steps S]

Data: real sentences (fortunes when installed, else a built-in paragraph), scikit-learn's
digits and a few deterministic tones; identical in every process.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tiny_data():
    import numpy as np
    from sklearn.datasets import load_digits

    path = "/usr/share/games/fortunes/computers"
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            texts = [l.strip() for l in f if len(l.strip()) > 20][:300]
    else:  # pragma: no cover - the Debian package is installed by scripts/install_system_packages.sh
        texts = [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(300)]
    images = (load_digits().images[:400] * 255 / 16).astype(np.uint8)[..., None]
    rng = np.random.default_rng(0)
    audio = [
        (0.3 * np.sin(np.arange(int(16000 * rng.uniform(0.4, 1.0))) * rng.uniform(0.02, 0.2))).astype(np.float32)
        for _ in range(48)
    ]
    train = {"text": texts[:260], "image": images[:360], "audio": audio[:40]}
    validation = {"text": texts[260:], "image": images[360:], "audio": audio[40:]}
    return train, validation


def tiny_config(steps):
    from mmpretrain.training.config import PretrainConfig

    return PretrainConfig(
        preset="tiny", vocabulary_size=200, sequence_length=24, image_size=8, image_patch_size=2,
        audio_seconds=1.0, steps=steps, warmup_steps=2, eval_every=1000, checkpoint_every=2,
        global_batch_size=8, validation_examples=16, max_predictions=4,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()

    from mmpretrain.training.strategy import make_strategy

    strategy = make_strategy(args.strategy, devices=args.devices)
    import numpy as np

    from mmpretrain.training.pretraining_run import PretrainingRun

    train, validation = tiny_data()
    run = PretrainingRun(tiny_config(args.steps), args.run_dir, strategy, progress=False)
    run.prepare(train, validation)
    run.train()
    weights = {v.path: v.numpy() for v in run.model.weights}
    weights["__replicas__"] = np.array(strategy.num_replicas_in_sync)
    weights["__step__"] = np.array(run.step)
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, **weights)
    os.replace(tmp, args.out)
    print(f"done step={run.step} replicas={strategy.num_replicas_in_sync}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
