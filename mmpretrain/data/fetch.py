"""How each source gets onto the machine: a PyPI archive, a Debian package or a Python module.

Every package kind answers the same questions, so `data prepare` and `data list` iterate them
without branching: `present(root)`, `locate(root)` (raises `SourceMissingError`), `fetch(root)`,
`version(root)`, `data_files(root)` (what the manifest checksums) and `manual_command()`.
"""

import dataclasses
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from mmpretrain.data.cache import SourceMissingError, cache_dir

DOWNLOADS = "downloads"


class FetchError(RuntimeError):
    """A source could not be fetched here; the message gives the command to run by hand."""


def _normalize(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _archive_name_version(filename):
    """`vaderSentiment-3.3.2.tar.gz` -> ("vadersentiment", "3.3.2"); wheels likewise."""
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return (_normalize(parts[0]), parts[1]) if len(parts) >= 2 else (None, None)
    for suffix in (".tar.gz", ".zip", ".tar.bz2"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                name, version = stem.rsplit("-", 1)
                return _normalize(name), version
    return None, None


@dataclasses.dataclass(frozen=True)
class PipArchive:
    """A PyPI archive read in place: an sdist (`--no-binary :all:`) or a wheel."""

    source: str
    project: str
    version: str
    sdist: bool = True

    @property
    def requirement(self):
        return f"pypi:{self.project}=={self.version}" + ("" if self.sdist else " (wheel)")

    def _pip_args(self, dest):
        kind = ["--no-binary", ":all:"] if self.sdist else ["--only-binary", ":all:"]
        requirement = f"{self.project}=={self.version}"
        return ["-m", "pip", "download", "--no-deps", *kind, "-d", str(dest), requirement]

    def manual_command(self, root=None):
        dest = cache_dir(root) / DOWNLOADS
        return "python " + " ".join(self._pip_args(dest))

    def find(self, root=None):
        folder = cache_dir(root) / DOWNLOADS
        if not folder.is_dir():
            return None
        wanted = (_normalize(self.project), self.version)
        for path in sorted(folder.iterdir()):
            if path.is_file() and _archive_name_version(path.name) == wanted:
                if path.name.endswith(".whl") != (not self.sdist):
                    continue
                return path
        return None

    def present(self, root=None):
        return self.find(root) is not None

    def locate(self, root=None):
        path = self.find(root)
        if path is None:
            kind = "sdist" if self.sdist else "wheel"
            raise SourceMissingError(
                self.source,
                f"no {kind} of {self.project}=={self.version} in {cache_dir(root) / DOWNLOADS}",
                hint=f"it runs `{self.manual_command(root)}`; the cache folder is set by "
                "$MMPRETRAIN_CACHE",
            )
        return path

    def data_files(self, root=None):
        return [self.locate(root)]

    def version_of(self, root=None):
        return self.version

    def fetch(self, root=None, log=print):
        if self.present(root):
            return
        folder = cache_dir(root) / DOWNLOADS
        folder.mkdir(parents=True, exist_ok=True)
        log(f"[{self.source}] pip download {self.project}=={self.version} -> {folder}")
        with tempfile.TemporaryDirectory(dir=folder, prefix=".partial-") as tmp:
            result = subprocess.run(
                [sys.executable, *self._pip_args(tmp)], capture_output=True, text=True
            )
            files = [p for p in pathlib.Path(tmp).iterdir() if p.is_file()]
            if result.returncode != 0 or len(files) != 1:
                raise FetchError(
                    f"[{self.source}] `pip download` of {self.project}=={self.version} failed "
                    f"(exit {result.returncode}): {result.stderr.strip()[-800:]}\n"
                    f"Run it by hand: {self.manual_command(root)}"
                )
            os.replace(files[0], folder / files[0].name)


@dataclasses.dataclass(frozen=True)
class DebianPackage:
    """A Debian package whose files (`paths`) the loaders read where dpkg put them."""

    source: str
    package: str
    paths: tuple

    @property
    def requirement(self):
        return f"debian:{self.package}"

    def manual_command(self, root=None):
        return f"apt-get update && apt-get install -y --no-install-recommends {self.package}"

    def present(self, root=None):
        return all(os.path.exists(p) for p in self.paths)

    def locate(self, root=None):
        missing = [p for p in self.paths if not os.path.exists(p)]
        if missing:
            raise SourceMissingError(
                self.source,
                f"{missing[0]} does not exist (Debian package {self.package})",
                hint=f"as root it runs `{self.manual_command()}`",
            )
        return [pathlib.Path(p) for p in self.paths]

    def data_files(self, root=None):
        return self.locate(root)

    def version_of(self, root=None):
        if shutil.which("dpkg-query") is None:
            return "unknown"
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", self.package], capture_output=True, text=True
        )
        return result.stdout.strip() if result.returncode == 0 else "unknown"

    def fetch(self, root=None, log=print):
        if self.present(root):
            return
        can_install = shutil.which("apt-get") is not None and os.geteuid() == 0
        if not can_install:
            raise FetchError(
                f"[{self.source}] needs the Debian package {self.package}, and this process "
                f"cannot install it (apt-get needs root). Run: sudo {self.manual_command()}"
            )
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", self.package]
        log(f"[{self.source}] {' '.join(install)}")
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            log(f"[{self.source}] apt-get update")
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0 or not self.present(root):
            raise FetchError(
                f"[{self.source}] `{' '.join(install)}` failed (exit {result.returncode}): "
                f"{result.stderr.strip()[-800:]}\nRun by hand: {self.manual_command()}"
            )


@dataclasses.dataclass(frozen=True)
class PythonPackage:
    """Data that ships inside an installed Python distribution (e.g. scikit-learn's digits)."""

    source: str
    module: str
    distribution: str
    data: str = ""  # a data file inside the module's folder, checksummed by the manifest

    @property
    def requirement(self):
        return f"pypi:{self.distribution}"

    def manual_command(self, root=None):
        return f"python -m pip install {self.distribution}"

    def present(self, root=None):
        return importlib.util.find_spec(self.module) is not None

    def locate(self, root=None):
        if not self.present(root):
            raise SourceMissingError(
                self.source,
                f"the Python module {self.module} is not importable",
                hint=f"it runs `{self.manual_command()}`",
            )
        return [pathlib.Path(importlib.util.find_spec(self.module).origin).parent]

    def data_files(self, root=None):
        return [self.locate(root)[0] / self.data] if self.data else []

    def version_of(self, root=None):
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    def fetch(self, root=None, log=print):
        if self.present(root):
            return
        log(f"[{self.source}] pip install {self.distribution}")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", self.distribution],
            capture_output=True,
            text=True,
        )
        importlib.invalidate_caches()
        if result.returncode != 0 or not self.present(root):
            raise FetchError(
                f"[{self.source}] `pip install {self.distribution}` failed: "
                f"{result.stderr.strip()[-800:]}\nRun by hand: {self.manual_command()}"
            )


APT_HELPER = "/usr/lib/apt/apt-helper"


def read_apt_list(path):
    """The text of one apt list file, decompressed by `apt-helper cat-file` (lz4, xz, gz...)."""
    result = subprocess.run([APT_HELPER, "cat-file", str(path)], capture_output=True)
    if result.returncode != 0:
        raise ValueError(f"{path} could not be decompressed by apt-helper: "
                         f"{result.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return result.stdout.decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class AptLists:
    """Debian's package index and description translations, fetched by the ordinary apt client
    into the cache (`<cache>/<folder>/lists`), not into the system's lists.

    Debian machines often turn description translations off (`Acquire::Languages "none"` under
    /etc/apt/apt.conf.d), so `fetch` runs `apt-get update` with its own lists directory and
    `Acquire::Languages=<languages>`; the system's apt state is not touched. `read(kind)`
    decompresses a list with `apt-helper cat-file` (lz4, xz, gz: whatever apt fetched).
    """

    source: str
    folder: str
    languages: tuple = ("en", "de", "fr")

    @property
    def requirement(self):
        return f"apt-lists:{','.join(self.languages)}"

    def lists_dir(self, root=None):
        return cache_dir(root) / self.folder / "lists"

    def _command(self, root=None):
        return ["apt-get", "update", "-q", "-o", f"Dir::State::Lists={self.lists_dir(root)}",
                "-o", f"Acquire::Languages={','.join(self.languages)}",
                "-o", "APT::Get::List-Cleanup=false"]

    def manual_command(self, root=None):
        return f"mkdir -p {self.lists_dir(root)}/partial && {' '.join(self._command(root))}"

    def _files(self, root=None):
        folder = self.lists_dir(root)
        if not folder.is_dir():
            return {}
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
        found = {}
        for name in names:
            match = re.search(r"_dists_([^_]+)_main_(?:binary-[^_]+_Packages|i18n_Translation-(\w+))", name)
            if match:
                kind = f"Translation-{match.group(2)}" if match.group(2) else "Packages"
                found.setdefault(kind, []).append(folder / name)
        return found

    def present(self, root=None):
        files = self._files(root)
        return "Packages" in files and all(f"Translation-{lang}" in files for lang in self.languages)

    def locate(self, root=None):
        files = self._files(root)
        missing = [k for k in ["Packages", *[f"Translation-{lang}" for lang in self.languages]]
                   if k not in files]
        if missing:
            raise SourceMissingError(
                self.source, f"{self.lists_dir(root)} holds no {missing[0]} list",
                hint=f"it runs `{self.manual_command(root)}`",
            )
        return [path for paths in files.values() for path in paths]

    def data_files(self, root=None):
        return self.locate(root)

    def version_of(self, root=None):
        releases = sorted({re.sub(r"_dists_([^_]+)_.*", r" \1", p.name).split(" ")[-1]
                           for p in self.locate(root)})
        return "+".join(releases)

    def read(self, kind, root=None):
        """The decompressed text of every list of `kind` ("Packages", "Translation-en"...)."""
        self.locate(root)
        paths = self._files(root).get(kind)
        if not paths:
            raise SourceMissingError(self.source, f"no {kind} list in {self.lists_dir(root)}",
                                     hint=f"it runs `{self.manual_command(root)}`")
        return [read_apt_list(path) for path in paths]

    def fetch(self, root=None, log=print):
        if self.present(root):
            return
        if shutil.which("apt-get") is None or not os.path.exists(APT_HELPER):
            raise FetchError(f"[{self.source}] needs Debian's apt (apt-get and {APT_HELPER}); "
                             "this machine has none.")
        (self.lists_dir(root) / "partial").mkdir(parents=True, exist_ok=True)
        command = self._command(root)
        log(f"[{self.source}] {' '.join(command)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0 or not self.present(root):
            raise FetchError(
                f"[{self.source}] `{' '.join(command)}` failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}\n"
                f"Run by hand (as root): {self.manual_command(root)}"
            )
