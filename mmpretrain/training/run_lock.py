"""One trainer per run directory: an exclusive `flock` on RUN_DIR/.lock for the whole run.

Two trainers on one run directory would interleave train.jsonl, record evaluations twice and
resume from each other's checkpoints. The first one takes the lock and writes its PID (and host)
into the file; a second one is refused at start with a `RunDirectoryInUse` naming that PID.

The kernel drops a `flock` when its process ends, however it ends: a trainer killed with
SIGKILL leaves no stale lock, and the next one takes over (it notes that the previous holder
ended without releasing it). The file itself stays (deleting it while others may have it open
would let two processes lock two different files); it is emptied on a normal release.

Within one process, several `PretrainingRun` objects on the same directory share the lock
(a notebook re-creating its run must not lock itself out); it is released when the last one
closes. Under MultiWorkerMirroredStrategy only the chief locks the run directory (non-chief
workers write nothing there but their own `.worker-N-tmp` checkpoint dirs).
"""

import os
import shutil
import socket
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking
    fcntl = None

LOCK_FILE = ".lock"

_held = {}  # realpath of the lock file -> [fd, holders]
_guard = threading.Lock()


class RunDirectoryInUse(ValueError):
    """Another live process holds the run directory's lock."""

    def __init__(self, message, pid=None):
        super().__init__(message)
        self.pid = pid


def read_holder(path):
    """(pid, host) written in the lock file `path`, or (None, None) when empty or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            fields = f.read().split()
    except OSError:
        return None, None
    pid = int(fields[0]) if fields and fields[0].isdigit() else None
    return pid, (fields[1] if len(fields) > 1 else None)


class RunLock:
    """A handle on the lock of one run directory; `release()` it (idempotent)."""

    def __init__(self, path):
        self.path = path
        self.released = False

    def release(self):
        with _guard:
            if self.released:
                return
            self.released = True
            entry = _held.get(self.path)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _held[self.path]
            fd = entry[0]
            try:
                os.ftruncate(fd, 0)  # an empty file: nobody holds it
            except OSError:
                pass
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def acquire(run_dir, fresh=False):
    """Locks `run_dir` (created if missing) for this process; returns a `RunLock`.

    Raises `RunDirectoryInUse` (a ValueError) when another process holds it; nothing in the
    directory is changed then. `fresh` only words the message (--fresh deletes nothing then).
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.realpath(os.path.join(run_dir, LOCK_FILE))
    if fcntl is None:  # pragma: no cover
        return RunLock(path)
    with _guard:
        entry = _held.get(path)
        if entry is not None:  # this process holds it already
            entry[1] += 1
            return RunLock(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's PID stays
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _in_use(run_dir, path, fresh) from None
        try:
            previous, previous_host = read_holder(path)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        _held[path] = [fd, 1]
    if previous is not None and previous != os.getpid():
        where = f" on {previous_host}" if previous_host and previous_host != socket.gethostname() else ""
        print(f"Took over the lock of {run_dir!r} from process {previous}{where}, which ended without "
              "releasing it (killed?).", flush=True)
    return RunLock(path)


def _in_use(run_dir, path, fresh):
    pid, host = None, None
    for _ in range(10):  # the holder writes its PID right after locking: give it a moment
        pid, host = read_holder(path)
        if pid is not None:
            break
        time.sleep(0.05)
    who = f"process {pid}" if pid is not None else "another process (its PID is not written yet)"
    if host and host != socket.gethostname():
        who += f" on host {host}"
    fresh_note = " --fresh deleted nothing." if fresh else ""
    return RunDirectoryInUse(
        f"The run directory {run_dir!r} is in use: {who} is training there (it holds {path!r}). "
        "Two trainers on one run directory would mix their logs and checkpoints, so this one "
        f"stops before touching anything.{fresh_note} Wait for {'PID ' + str(pid) if pid else 'it'} "
        "to finish (or stop it, then run the same command again to resume), or use another --run-dir.",
        pid=pid,
    )


def clear_run_dir(run_dir):
    """Deletes what `run_dir` holds (for --fresh), except the lock file this process holds."""
    if not os.path.isdir(run_dir):
        return
    for entry in os.listdir(run_dir):
        if entry == LOCK_FILE:
            continue
        path = os.path.join(run_dir, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
