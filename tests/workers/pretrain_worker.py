"""A tiny pretraining job in its own process, for the distribution and kill/resume tests.

    python tests/workers/pretrain_worker.py RUN_DIR OUT.npz --strategy one_device|mirrored|multi_worker
        [--devices N] [--steps S] [--eval-every E] [--checkpoint-every C] [--fresh]

PRETRAIN_WORKER_KILL_AT=EVENT:STEP makes the process SIGKILL itself right after that event of
that step (a kill at a known point, for the kill-and-resume tests): `train` = train.jsonl got
the step's line, `checkpoint` = the step's checkpoint was written, `eval` = eval.jsonl got the
step's line. The command line stays the same, so the resume is exactly the user's.
PRETRAIN_WORKER_PAUSE_AT=EVENT:STEP with PRETRAIN_WORKER_RESUME_FILE=PATH makes it wait at that
point (printing "paused at EVENT:STEP") until PATH exists: a trainer that is surely mid-run.
A refused start (ValueError, e.g. the run directory is in use) prints "error: ..." and exits 2.

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


def tiny_config(steps, eval_every=1000, checkpoint_every=2):
    from mmpretrain.training.config import PretrainConfig

    return PretrainConfig(
        preset="tiny", vocabulary_size=200, sequence_length=24, image_size=8, image_patch_size=2,
        audio_seconds=1.0, steps=steps, warmup_steps=2, eval_every=eval_every,
        checkpoint_every=checkpoint_every, global_batch_size=8, validation_examples=16, max_predictions=4,
    )


KILL_EVENTS = ("train", "checkpoint", "eval")


def event_point(variable):
    """(event, step) from the environment variable `variable` ("EVENT:STEP"), or None."""
    value = os.environ.get(variable)
    if not value:
        return None
    event, _, step = value.partition(":")
    assert event in KILL_EVENTS and step.isdigit(), value
    return event, int(step)


def instrumented(run_class, kill=None, pause=None, resume_file=None):
    """A subclass of PretrainingRun that SIGKILLs its own process at `kill` and waits at `pause`
    until `resume_file` exists (both (event, step) or None)."""
    import signal
    import time

    def at(event, step):
        if (event, step) == pause:
            print(f"paused at {event}:{step}", flush=True)
            while not os.path.exists(resume_file):
                time.sleep(0.05)
        if (event, step) == kill:
            print(f"SIGKILL at {event}:{step}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    class InstrumentedRun(run_class):
        def _log_jsonl(self, name, record):
            super()._log_jsonl(name, record)
            at({"train.jsonl": "train", "eval.jsonl": "eval"}[name], record["step"])

        def build(self):
            super().build()
            save = self.keeper.save

            def save_then_check(step):
                path = save(step)
                at("checkpoint", step)
                return path

            self.keeper.save = save_then_check

    return InstrumentedRun


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()

    from mmpretrain.training.strategy import make_strategy

    strategy = make_strategy(args.strategy, devices=args.devices)
    import numpy as np

    from mmpretrain.training.pretraining_run import PretrainingRun

    kill, pause = event_point("PRETRAIN_WORKER_KILL_AT"), event_point("PRETRAIN_WORKER_PAUSE_AT")
    run_class = PretrainingRun
    if kill or pause:
        run_class = instrumented(PretrainingRun, kill, pause, os.environ.get("PRETRAIN_WORKER_RESUME_FILE"))
    config = tiny_config(args.steps, eval_every=args.eval_every, checkpoint_every=args.checkpoint_every)
    try:  # first: a refused start (run directory in use) touches nothing and loads no data
        run = run_class(config, args.run_dir, strategy, fresh=args.fresh, progress=False)
    except ValueError as error:
        print(f"error: {error}", flush=True)
        return 2
    print(f"started pid={os.getpid()}", flush=True)
    train, validation = tiny_data()
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
