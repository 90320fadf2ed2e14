"""TF Serving's `--model_base_path` layout: BASE/NAME/VERSION/, versions never overwritten.

A version is a directory whose name is a positive integer; TF Serving (and `mmpretrain serve`)
ignore anything else, which is why work in progress lives in hidden `.tmp-*` directories beside
the versions until it is complete and then moves in with one `os.rename`.
"""

import contextlib
import os
import shutil
import tempfile

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


@contextlib.contextmanager
def staging_dir(model_dir):
    """A fresh hidden temp dir inside `model_dir` (same filesystem: rename is atomic).

    Removed on exit unless its content was published (moved away) meanwhile.
    """
    os.makedirs(model_dir, exist_ok=True)
    path = tempfile.mkdtemp(prefix=".tmp-export-", dir=model_dir)
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
