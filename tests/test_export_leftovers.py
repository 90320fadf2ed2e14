"""A killed export leaves hidden `.tmp-export-*` staging dirs; the next export of the model
removes those no live process writes (and says so), never a concurrent export's."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mmpretrain.export import serving_layout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def staging(model_dir, pid=None, host=None, age=None, tail="abc_123"):
    """A staging dir named as `staging_dir` names them, with a file inside, `age` seconds old."""
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, serving_layout.staging_prefix(pid, host) + tail)
    os.makedirs(os.path.join(path, "model", "variables"))
    with open(os.path.join(path, "model", "saved_model.pb"), "wb") as f:
        f.write(b"partial")
    if age is not None:
        stamp = time.time() - age
        for root, dirs, files in os.walk(path, topdown=False):
            for name in dirs + files:
                os.utime(os.path.join(root, name), (stamp, stamp))
        os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def processes():
    """(a PID that has ended, a live process started now); the live one is killed at the end."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    live = subprocess.Popen(["sleep", "300"])
    yield ended.pid, live
    live.kill()
    live.wait()


def test_leftovers_of_ended_processes_go_live_ones_stay(tmp_path, processes):
    ended, live = processes
    model_dir = str(tmp_path / "tiny")
    dead = staging(model_dir, pid=ended)
    running = staging(model_dir, pid=live.pid)  # named after `live` started: its writer
    reused = staging(model_dir, pid=live.pid, age=3600, tail="def_456")  # changed before `live` started
    mine = staging(model_dir)  # this process's own (a concurrent export in this process)
    remote_recent = staging(model_dir, pid=1, host="other-host")
    remote_old = staging(model_dir, pid=1, host="other-host", age=serving_layout.STALE_AFTER_SECONDS + 60,
                         tail="old_1")
    legacy_recent = os.path.join(model_dir, ".tmp-export-k2j4h5")
    os.makedirs(legacy_recent)
    legacy_old = os.path.join(model_dir, ".tmp-export-zz9yy8")
    os.makedirs(legacy_old)
    stamp = time.time() - serving_layout.STALE_AFTER_SECONDS - 60
    os.utime(legacy_old, (stamp, stamp))
    os.makedirs(os.path.join(model_dir, "1"))  # a version and another hidden dir are never touched
    os.makedirs(os.path.join(model_dir, ".tmp-copy"))

    messages = []
    removed = dict(serving_layout.remove_leftovers(model_dir, log=messages.append))
    assert set(removed) == {dead, reused, remote_old, legacy_old}
    assert removed[dead] == f"process {ended} is no longer running"
    assert "the PID now belongs to a newer process" in removed[reused]
    assert "written by process 1 on host other-host, unchanged for" in removed[remote_old]
    assert "written by an unknown process" in removed[legacy_old]
    for path in removed:
        assert not os.path.exists(path)
    for path in (running, mine, remote_recent, legacy_recent):
        assert os.path.isdir(path)
    assert sorted(os.listdir(model_dir)) == sorted(
        os.path.basename(p) for p in (running, mine, remote_recent, legacy_recent, "1", ".tmp-copy"))
    assert len(messages) == 1
    assert messages[0].startswith("removed 4 leftover staging directories from interrupted exports: ")
    assert all(path in messages[0] for path in removed)
    assert serving_layout.describe_removed([(dead, "why")]) == \
        f"removed 1 leftover staging directory from an interrupted export: {dead} (why)"
    assert serving_layout.remove_leftovers(model_dir) == []  # nothing more to do


def test_staging_dir_names_its_writer_and_cleans_first(tmp_path, processes):
    ended, _ = processes
    model_dir = str(tmp_path / "tiny")
    dead = staging(model_dir, pid=ended)
    messages = []
    with serving_layout.staging_dir(model_dir, log=messages.append) as path:
        assert os.path.basename(path).startswith(f".tmp-export-{os.getpid()}@")
        assert serving_layout.leftover_reason(path) is None  # live: this process
        assert not os.path.exists(dead)
    assert not os.path.exists(path)
    assert messages == [f"removed 1 leftover staging directory from an interrupted export: {dead} "
                        f"(process {ended} is no longer running)"]


@pytest.mark.slow
def test_next_export_removes_what_a_killed_export_left(tmp_path):
    """A real export process SIGKILLed mid-way, then a real export of the same model, while a
    live process's staging dir (a concurrent export) sits beside them."""
    sys.path.insert(0, os.path.join(HERE, "workers"))
    from export_fixtures import tiny_run_dir

    from mmpretrain.export.run_export import export_run

    run_dir, output = tiny_run_dir(), str(tmp_path / "saved_models")
    killed = subprocess.Popen(
        [sys.executable, "-m", "mmpretrain.cli", "export", run_dir, "--output", output, "--name", "tiny"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    model_dir = os.path.join(output, "tiny")

    def staged():
        if not os.path.isdir(model_dir):
            return []
        return [os.path.join(model_dir, e) for e in os.listdir(model_dir) if e.startswith(".tmp-export-")]

    deadline = time.time() + 240
    while not any(os.path.isdir(os.path.join(p, "model")) for p in staged()):
        assert killed.poll() is None and time.time() < deadline, "the export ended before it could be killed"
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p for base in os.listdir(output)
                 for p in (os.path.join(output, base, e) for e in os.listdir(os.path.join(output, base)))
                 if os.path.basename(p).startswith(".tmp-export-")]
    assert leftovers and all(f".tmp-export-{killed.pid}@" in p for p in leftovers)
    assert serving_layout.list_versions(model_dir) == []

    concurrent = subprocess.Popen(["sleep", "300"])  # stands for a concurrent export's process
    try:
        live = staging(model_dir, pid=concurrent.pid)
        messages = []
        result = export_run(run_dir, output=output, name="tiny", tflite=False, log=messages.append)
        assert os.path.isdir(live)  # a live process's staging dir stays
    finally:
        concurrent.kill()
        concurrent.wait()
    for path in leftovers:
        assert not os.path.exists(path), path
    count = len(leftovers)
    expected = (f"removed {count} leftover staging director{'y' if count == 1 else 'ies'} from "
                f"{'an interrupted export' if count == 1 else 'interrupted exports'}: ")
    notes = [m for m in messages if m.startswith("removed ")]
    assert len(notes) == 1 and notes[0].startswith(expected), messages
    assert all(p in notes[0] for p in leftovers) and f"process {killed.pid} is no longer running" in notes[0]
    assert result.version == 1 and os.path.isfile(os.path.join(result.encoder_dir, "saved_model.pb"))
    with open(os.path.join(result.encoder_dir, "assets.extra", "export_report.json")) as f:
        report = json.load(f)
    assert sorted(r["path"] for r in report["removed_leftover_staging_dirs"]) == sorted(
        os.path.abspath(p) for p in leftovers)
    # Only the live dir and the published version remain; the companions hold no leftovers either.
    assert sorted(os.listdir(model_dir)) == sorted(["1", os.path.basename(live)])
    for role, path in result.companion_dirs.items():
        assert os.listdir(os.path.dirname(path)) == ["1"], role
