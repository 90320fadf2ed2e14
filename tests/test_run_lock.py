"""One trainer per run directory (RUN_DIR/.lock), with real processes.

The lock is an exclusive `flock`: a second trainer is refused at start naming the holder's PID,
`--fresh` deletes nothing while another trainer runs, and the lock of a trainer killed with
SIGKILL dies with it (the next trainer takes over and resumes).
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mmpretrain.training import run_lock

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "workers", "pretrain_worker.py")
ROOT = os.path.dirname(HERE)

# A plain Python process (no TensorFlow) that takes the lock and waits for stdin to close.
HOLDER = textwrap.dedent("""
    import sys
    from mmpretrain.training import run_lock
    lock = run_lock.acquire(sys.argv[1])
    print("locked", flush=True)
    sys.stdin.read()
    lock.release()
    print("released", flush=True)
""")


def hold(run_dir):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_lock_refuses_another_process_and_dies_with_a_sigkilled_holder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = hold(run_dir)
    try:
        assert run_lock.read_holder(run_dir / ".lock")[0] == holder.pid
        with pytest.raises(run_lock.RunDirectoryInUse) as refused:
            run_lock.acquire(str(run_dir))
        assert isinstance(refused.value, ValueError) and refused.value.pid == holder.pid
        message = str(refused.value)
        for words in (f"process {holder.pid} is training there", "is in use", f"Wait for PID {holder.pid}",
                      "another --run-dir", ".lock"):
            assert words in message, message
        with pytest.raises(ValueError, match="--fresh deleted nothing"):
            run_lock.acquire(str(run_dir), fresh=True)
        assert run_lock.read_holder(run_dir / ".lock")[0] == holder.pid  # the refused one wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)  # a real kill -9: no chance to release anything
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert run_lock.read_holder(run_dir / ".lock")[0] == holder.pid  # the stale PID is still written...
    lock = run_lock.acquire(str(run_dir))  # ...but the flock died with the process: taken over
    try:
        assert f"from process {holder.pid}, which ended without releasing it" in capsys.readouterr().out
        assert run_lock.read_holder(run_dir / ".lock")[0] == os.getpid()
        # Within one process the lock is shared (a notebook re-creating its run), released by the last.
        again = run_lock.acquire(str(run_dir))
        again.release()
        assert run_lock.read_holder(run_dir / ".lock")[0] == os.getpid()
    finally:
        lock.release()
        lock.release()  # idempotent
    assert (run_dir / ".lock").read_text() == ""  # a normal release empties the file
    other = hold(run_dir)  # and another process can take it
    other.stdin.close()
    assert other.stdout.readline().strip() == "released"
    other.wait(timeout=30)


def test_only_the_chief_locks_the_run_dir(tmp_path, monkeypatch):
    """Under MultiWorkerMirroredStrategy only the chief locks (the other workers write only to
    their own checkpoints/.worker-N-tmp dirs), so workers sharing one run directory do not
    refuse each other; a chief is refused, and --fresh deletes nothing."""
    sys.path.insert(0, os.path.join(HERE, "workers"))
    from pretrain_worker import tiny_config

    from mmpretrain.training import pretraining_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "train.jsonl").write_text('{"step": 1, "modality": "text", "loss": 1.0}\n')
    holder = hold(run_dir)
    try:
        with pytest.raises(run_lock.RunDirectoryInUse, match=f"process {holder.pid} is training there"):
            pretraining_run.PretrainingRun(tiny_config(4), str(run_dir), fresh=True, progress=False)
        assert (run_dir / "train.jsonl").exists()
        monkeypatch.setattr(pretraining_run, "is_chief", lambda strategy: False)
        monkeypatch.setattr(pretraining_run, "task_of", lambda strategy: ("worker", 1))
        worker = pretraining_run.PretrainingRun(tiny_config(4), str(run_dir), fresh=True, progress=False)
        assert worker.lock is None and (run_dir / "train.jsonl").exists()  # non-chief: no --fresh delete
        assert run_lock.read_holder(run_dir / ".lock")[0] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def _snapshot(run_dir):
    """{relative path: sha256} of every file under `run_dir`."""
    result = {}
    for root, _, files in os.walk(run_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                result[os.path.relpath(path, run_dir)] = hashlib.sha256(f.read()).hexdigest()
    return result


def _wait_for(path, text, process, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path).read():
            return
        assert process.poll() is None, open(path).read()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}")


def _worker(run_dir, out, log, env=None, *extra):
    return subprocess.Popen(
        [sys.executable, WORKER, str(run_dir), str(out), "--steps", "12", "--eval-every", "4", *extra],
        env={**os.environ, **(env or {})}, stdout=open(log, "w"), stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )


def _lines(path):
    return [json.loads(line) for line in open(path)]


@pytest.mark.slow
def test_second_trainer_is_refused_and_a_killed_trainers_lock_is_taken_over(tmp_path):
    run_dir, resume = tmp_path / "run", tmp_path / "resume"
    # Trainer A, paused mid-run (train.jsonl has steps 1-5, checkpoints 2 and 4 exist).
    first = _worker(run_dir, tmp_path / "a.npz", tmp_path / "a.log",
                    {"PRETRAIN_WORKER_PAUSE_AT": "train:5", "PRETRAIN_WORKER_RESUME_FILE": str(resume)})
    try:
        _wait_for(tmp_path / "a.log", "paused at train:5", first)
        before = _snapshot(run_dir)
        assert {"train.jsonl", "eval.jsonl", "config.json", "checkpoints/checkpoint"} <= set(before)
        # A second trainer on the same directory: the CLI, the CLI with --fresh, the same command.
        cli = [sys.executable, "-m", "mmpretrain.cli", "pretrain", "--run-dir", str(run_dir), "--no-progress"]
        refused = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
                   for command in (cli, cli + ["--fresh"])]
        same = _worker(run_dir, tmp_path / "b.npz", tmp_path / "b.log")
        outputs = [p.communicate(timeout=180) for p in refused]
        same.wait(timeout=180)
        for process, (out, err) in zip(refused, outputs):
            assert process.returncode == 2, err[-3000:]
            assert "mmpretrain pretrain: error: The run directory" in err
            for words in (f"process {first.pid} is training there", f"Wait for PID {first.pid}",
                          "another --run-dir"):
                assert words in err, err
        assert "--fresh deleted nothing" in outputs[1][1]
        same_output = open(tmp_path / "b.log").read()
        assert same.returncode == 2 and f"error: The run directory {str(run_dir)!r} is in use: process " \
            f"{first.pid}" in same_output, same_output[-3000:]
        assert "started" not in same_output
        # Nothing A wrote was touched, and A still holds the lock.
        assert _snapshot(run_dir) == before
        assert run_lock.read_holder(run_dir / ".lock")[0] == first.pid
    finally:
        first.send_signal(signal.SIGKILL)  # a real kill -9 of the paused holder
        first.wait()
    assert first.returncode == -signal.SIGKILL
    # The same command again: takes the dead trainer's lock over and resumes from checkpoint 4.
    resumed = _worker(run_dir, tmp_path / "c.npz", tmp_path / "c.log")
    assert resumed.wait(timeout=300) == 0, open(tmp_path / "c.log").read()[-3000:]
    output = open(tmp_path / "c.log").read()
    assert f"Took over the lock of {str(run_dir)!r} from process {first.pid}" in output
    assert "Resuming from" in output and "ckpt-4 at step 4/12" in output and "done step=12" in output
    assert [r["step"] for r in _lines(run_dir / "train.jsonl")] == list(range(1, 13))
    assert [r["step"] for r in _lines(run_dir / "eval.jsonl")] == [0, 4, 8, 12]
    assert (run_dir / ".lock").read_text() == ""  # released at the end
