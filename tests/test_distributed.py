"""Distribution and fault tolerance, with real processes.

Each run is `tests/workers/pretrain_worker.py` in its own Python process (logical CPU devices
and TF_CONFIG must be set before TensorFlow starts).
"""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(__file__), "workers", "pretrain_worker.py")
STEPS = 16
pytestmark = pytest.mark.slow


def launch(run_dir, out, *extra, env=None, steps=STEPS):
    return subprocess.Popen(
        [sys.executable, WORKER, str(run_dir), str(out), "--steps", str(steps), *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def weights(path):
    data = np.load(path)
    return {k: data[k] for k in data.files}


def max_difference(a, b):
    names = [k for k in a if not k.startswith("__")]
    assert names and sorted(names) == sorted(k for k in b if not k.startswith("__"))
    return max(float(np.abs(a[k] - b[k]).max()) for k in names)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted one-device run."""
    folder = tmp_path_factory.mktemp("reference")
    finish(launch(folder / "run", folder / "w.npz"))
    return weights(folder / "w.npz"), folder / "run"


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_mirrored_two_devices_matches_one_device(reference, tmp_path):
    finish(launch(tmp_path / "run", tmp_path / "w.npz", "--strategy", "mirrored", "--devices", "2"))
    mirrored = weights(tmp_path / "w.npz")
    assert int(mirrored["__replicas__"]) == 2 and int(mirrored["__step__"]) == STEPS
    difference = max_difference(mirrored, reference[0])
    print(f"mirrored(2) vs one device: max |dw| = {difference:.2e}")
    assert difference <= 1e-5


def test_multi_worker_two_processes_match_one_process(reference, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = [
        launch(
            tmp_path / f"run{i}", tmp_path / f"w{i}.npz", "--strategy", "multi_worker",
            env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
        )
        for i in range(2)
    ]
    for p in processes:
        finish(p)
    w0, w1 = weights(tmp_path / "w0.npz"), weights(tmp_path / "w1.npz")
    assert int(w0["__replicas__"]) == 2
    assert max_difference(w0, w1) == 0.0  # the workers end bit-identical
    difference = max_difference(w0, reference[0])
    print(f"multi-worker(2) vs one process: max |dw| = {difference:.2e}")
    assert difference <= 1e-5
    # Only the chief wrote checkpoints and logs.
    assert os.listdir(tmp_path / "run0" / "checkpoints")
    assert not (tmp_path / "run1" / "train.jsonl").exists()
    assert not any(not n.startswith(".worker") for n in os.listdir(tmp_path / "run1" / "checkpoints"))


# The kill-and-resume test at random points: 30 steps, a checkpoint every 3 and an evaluation
# every 5 (so kills fall between checkpoints, between a checkpoint and its evaluation, ...).
KILL_STEPS, CHECKPOINT_EVERY, EVAL_EVERY, KILLS, KILL_SEED = 30, 3, 5, 5, 20240611


def kill_events(steps, checkpoint_every, eval_every):
    """Every point the worker can SIGKILL itself at (PRETRAIN_WORKER_KILL_AT), in run order:
    after step k's train.jsonl line, after its checkpoint, after its eval.jsonl line."""
    events = []
    for k in range(1, steps + 1):
        events.append(("train", k))
        if k % checkpoint_every == 0 or k == steps:
            events.append(("checkpoint", k))
        if k % eval_every == 0 or k == steps:
            events.append(("eval", k))
    return events


def log_steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_five_random_sigkills_then_resumes_match_uninterrupted_run(tmp_path):
    extra = ("--checkpoint-every", str(CHECKPOINT_EVERY), "--eval-every", str(EVAL_EVERY))
    events = kill_events(KILL_STEPS, CHECKPOINT_EVERY, EVAL_EVERY)
    chosen = np.sort(np.random.default_rng(KILL_SEED).choice(len(events), size=KILLS, replace=False))
    points = [events[i] for i in chosen]
    print("kill points:", ", ".join(f"{e}:{k}" for e, k in points))
    # The uninterrupted run, side by side with the first killed one (2 cores).
    reference_run = launch(tmp_path / "reference", tmp_path / "reference.npz", *extra, steps=KILL_STEPS)
    run_dir, out = tmp_path / "run", tmp_path / "w.npz"
    for event, step in points:
        checkpointed = (run_dir / "checkpoints" / "checkpoint").exists()
        process = launch(run_dir, out, *extra, steps=KILL_STEPS, env={"PRETRAIN_WORKER_KILL_AT": f"{event}:{step}"})
        output, _ = process.communicate(timeout=300)
        assert process.returncode == -signal.SIGKILL, output[-3000:]
        assert f"SIGKILL at {event}:{step}" in output
        assert ("Resuming from" in output) == checkpointed
        assert not out.exists()
    output = finish(launch(run_dir, out, *extra, steps=KILL_STEPS))  # the same command, to the end
    assert "Resuming from" in output and f"done step={KILL_STEPS}" in output
    finish(reference_run)
    resumed, reference_weights = weights(out), weights(tmp_path / "reference.npz")
    assert int(resumed["__step__"]) == KILL_STEPS
    difference = max_difference(resumed, reference_weights)
    print(f"killed at {len(points)} points, resumed each time: max |dw| vs uninterrupted = {difference:.2e}")
    assert difference == 0.0
    # train.jsonl: every step exactly once; eval.jsonl: every evaluation exactly once.
    train_steps = log_steps(run_dir / "train.jsonl")
    assert sorted(set(train_steps)) == train_steps == list(range(1, KILL_STEPS + 1))
    eval_steps = log_steps(run_dir / "eval.jsonl")
    assert len(set(eval_steps)) == len(eval_steps), f"duplicated evaluation steps: {eval_steps}"
    assert eval_steps == list(range(0, KILL_STEPS + 1, EVAL_EVERY))
    # The same losses as the uninterrupted run, step by step.
    for name in ("train.jsonl", "eval.jsonl"):
        got = [json.loads(line) for line in (run_dir / name).read_text().splitlines()]
        want = [json.loads(line) for line in (tmp_path / "reference" / name).read_text().splitlines()]
        assert got == want, name
