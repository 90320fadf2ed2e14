"""TF Serving's `--model_base_path` layout: BASE/NAME/VERSION/, versions never overwritten.

A version is a directory whose name is a positive integer; TF Serving (and `mmpretrain serve`)
ignore anything else, which is why work in progress lives in hidden `.tmp-*` directories beside
the versions until it is complete and then moves in with one `os.rename`. A staging dir's name
records its writer (`.tmp-export-PID@HOST-xxxx`), so the next export of the model removes what a
killed export left (`remove_leftovers`) and leaves a concurrent export's dir alone.
"""

import contextlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time

SAVED_MODEL_FILE = "saved_model.pb"


def list_versions(model_dir, complete=False):
    """Sorted integer versions present in `model_dir` (empty when it does not exist).

    The one place that lists versions (exports, the REST server, model resolution). A version
    is a directory named by a positive integer; hidden `.tmp-*` staging dirs never count.
    `complete=True` keeps only versions that hold a `saved_model.pb` (what can be loaded).
    """
    if not os.path.isdir(model_dir):
        return []
    versions = []
    for entry in os.listdir(model_dir):
        path = os.path.join(model_dir, entry)
        if not (entry.isdigit() and int(entry) > 0 and os.path.isdir(path)):
            continue
        if complete and not os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
            continue
        versions.append(int(entry))
    return sorted(versions)


def next_version(*model_dirs):
    """1 + the highest version in any of `model_dirs` (1 when none has a version)."""
    return 1 + max((v for d in model_dirs for v in list_versions(d)), default=0)


def check_version(version):
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"A model version is a positive integer (TF Serving's layout); received {version!r}.")
    return version


def check_free(model_dir, version):
    """ValueError if `model_dir/version` exists: a version is never overwritten."""
    target = os.path.join(model_dir, str(check_version(version)))
    if os.path.exists(target):
        raise ValueError(
            f"Version {version} already exists at {target!r}; versions are never overwritten. "
            f"Omit --version to take the next free one ({next_version(model_dir)}), or pick "
            "another number."
        )
    return target


STAGING_PREFIX = ".tmp-export-"
# A staging dir whose writer cannot be checked (another host, or named before PIDs were
# recorded) counts as a leftover once nothing in it changed for this long.
STALE_AFTER_SECONDS = 120 * 60
_STAGING_NAME = re.compile(r"^\.tmp-export-(?P<pid>\d+)@(?P<host>.+)-[a-z0-9_]+$")


def _host():
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "localhost"


def staging_prefix(pid=None, host=None):
    """The name prefix of this process's staging dirs: `.tmp-export-PID@HOST-` (a random tail
    follows), so a later export can tell whether the writer still runs."""
    return f"{STAGING_PREFIX}{os.getpid() if pid is None else pid}@{host or _host()}-"


def _process_start_time(pid):
    """When `pid` started (seconds since the epoch), or None if /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _last_change(path):
    """The newest modification time of `path` and everything under it."""
    newest = os.lstat(path).st_mtime
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def leftover_reason(path, now=None):
    """Why the staging dir `path` is a leftover nobody writes any more, or None if it may be live.

    Its name records the writer's PID and host: on this host, a leftover is one whose process
    has ended (or whose PID now belongs to a process started after the dir last changed: a
    reused PID). Otherwise (another host, an old-style name) it is one untouched for
    `STALE_AFTER_SECONDS`.
    """
    match = _STAGING_NAME.match(os.path.basename(path))
    if match and match["host"] == _host():
        pid = int(match["pid"])
        if pid == os.getpid():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"process {pid} is no longer running"
        except PermissionError:
            pass  # alive, someone else's
        started, changed = _process_start_time(pid), os.lstat(path).st_mtime
        if started is not None and started > changed + 2.0:
            return f"process {pid} is no longer running (the PID now belongs to a newer process)"
        return None
    age = (time.time() if now is None else now) - _last_change(path)
    if age > STALE_AFTER_SECONDS:
        writer = f"process {match['pid']} on host {match['host']}" if match else "an unknown process"
        return f"written by {writer}, unchanged for {age / 60:.0f} minutes"
    return None


def remove_leftovers(model_dir, log=None):
    """Removes the `.tmp-export-*` staging dirs in `model_dir` that interrupted (killed) exports
    left and no live process writes; a concurrent export's dir stays. Returns
    [(path, reason)] of what was removed and tells `log` (a function taking a message)."""
    if not os.path.isdir(model_dir):
        return []
    removed = []
    for entry in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, entry)
        if not entry.startswith(STAGING_PREFIX) or not os.path.isdir(path) or os.path.islink(path):
            continue
        try:
            reason = leftover_reason(path)
        except OSError:  # vanished meanwhile (its export finished)
            continue
        if reason is None:
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append((path, reason))
    if removed and log is not None:
        log(describe_removed(removed))
    return removed


def describe_removed(removed):
    """'removed 1 leftover staging directory from an interrupted export: PATH (REASON)'."""
    listed = "; ".join(f"{path} ({reason})" for path, reason in removed)
    if len(removed) == 1:
        return f"removed 1 leftover staging directory from an interrupted export: {listed}"
    return f"removed {len(removed)} leftover staging directories from interrupted exports: {listed}"


@contextlib.contextmanager
def staging_dir(model_dir, log=None):
    """A fresh hidden temp dir inside `model_dir` (same filesystem: rename is atomic), named
    after this process (`staging_prefix`).

    First removes the leftovers of interrupted exports there (`remove_leftovers`; `log` hears
    about them, default: a line on stderr). Removed on exit unless its content was published
    (moved away) meanwhile.
    """
    os.makedirs(model_dir, exist_ok=True)
    remove_leftovers(model_dir, log or (lambda message: print(f"export: {message}", file=sys.stderr)))
    path = tempfile.mkdtemp(prefix=staging_prefix(), dir=model_dir)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def publish(staged, model_dir, version):
    """Moves the complete directory `staged` to `model_dir/version` atomically.

    Fails (ValueError) rather than replace anything already at the target.
    """
    target = check_free(model_dir, version)
    try:
        os.rename(staged, target)  # fails on a non-empty target; never replaces a version
    except OSError as err:
        raise ValueError(
            f"Could not publish version {version} at {target!r} ({err}); another export may have "
            "taken it meanwhile. Nothing was overwritten; export again."
        ) from None
    return target


def string_parity(exported, reference):
    """{"exact_match", "examples"[, "first_difference"]}: a reloaded SavedModel's strings against Keras's."""
    matches = sum(a == b for a, b in zip(exported, reference))
    parity = {"exact_match": matches / max(len(reference), 1), "examples": len(reference)}
    if matches != len(reference):
        first = next(i for i, (a, b) in enumerate(zip(exported, reference)) if a != b)
        parity["first_difference"] = {"keras": reference[first], "saved_model": exported[first]}
    return parity


def publish_app(staged, model_dir, metrics, parity, attempts=5):
    """Publishes an app's staged SavedModel as the next free version of `model_dir`, writing
    `assets.extra/metrics.json` (with `metrics["export"]` naming that version) just before the
    rename; retries with the next version when another export takes it meanwhile. -> export section."""
    import json

    extra = os.path.join(staged, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    for attempt in range(attempts):
        version = next_version(model_dir)
        metrics["export"] = {"saved_model": os.path.join(model_dir, str(version)), "version": version,
                             "parity": parity}
        with open(os.path.join(extra, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
        try:
            publish(staged, model_dir, version)
            return metrics["export"]
        except ValueError:  # another export took this version meanwhile
            if attempt == attempts - 1:
                raise


def publish_all(items):
    """Publishes [(staged, model_dir, version)] in order; on failure moves back what moved.

    Returns the published paths. Each move is atomic; a failure part-way un-publishes the earlier
    ones, so either all the models of an export appear or none does.
    """
    done = []
    try:
        for staged, model_dir, version in items:
            done.append((publish(staged, model_dir, version), staged))
    except BaseException:
        for target, staged in reversed(done):
            with contextlib.suppress(OSError):
                os.rename(target, staged)
        raise
    return [target for target, _ in done]
