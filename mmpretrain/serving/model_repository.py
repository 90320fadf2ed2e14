"""ModelRepository: the SavedModels under a TF Serving base directory, loaded on demand.

    BASE/NAME/VERSION/saved_model.pb      (what `mmpretrain export` writes)

Like TF Serving, a request without a version gets the highest one. Unlike TF Serving's default
policy, older versions stay reachable with /versions/N. New versions that appear on disk are
found on the next request (exports publish them with an atomic rename); hidden and
non-numeric directories are ignored.
"""

import json
import os
import threading

from mmpretrain.export.serving_layout import SAVED_MODEL_FILE, list_versions
from mmpretrain.serving.errors import RequestError

INFO_FILES = ("config.json", "app.json")  # what exports write in assets/ (encoders, task apps)


def read_info(path):
    """The model's own config from assets/ (config.json or app.json), or {} when it has none.

    The server reads only generic facts from it (the sample rate and maximum duration that
    b64 audio files are decoded to); it never needs it to serve a signature.
    """
    for name in INFO_FILES:
        try:
            with open(os.path.join(path, "assets", name), encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(info, dict):
            return info
    return {}


class ServableModel:
    """One loaded version: its signatures (name -> concrete function) and input specs."""

    def __init__(self, name, version, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (text graphs hold tf.text ops)

        self.name = name
        self.version = version
        self.path = path
        self.loaded = tf.saved_model.load(path)
        self.signatures = dict(self.loaded.signatures)
        self.input_specs = {
            key: dict(function.structured_input_signature[1]) for key, function in self.signatures.items()
        }
        self.output_keys = {
            key: list(function.structured_outputs) for key, function in self.signatures.items()
        }
        self.info = read_info(path)

    def signature(self, signature_name):
        if signature_name not in self.signatures:
            raise RequestError(
                400,
                f"Model {self.name!r} version {self.version} has no signature {signature_name!r}; "
                f"its signatures: {sorted(self.signatures)}.",
            )
        return self.signatures[signature_name]


def signature_def_metadata(path):
    """TF Serving's metadata JSON for the SavedModel at `path`, read from saved_model.pb."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, SAVED_MODEL_FILE), "rb") as f:
        proto.ParseFromString(f.read())
    meta_graph = proto.meta_graphs[0]
    return {
        "signature_def": {
            key: json_format.MessageToDict(value, preserving_proto_field_name=True)
            for key, value in meta_graph.signature_def.items()
        }
    }


class ModelRepository:
    """Finds models and versions under `base_dir` and loads them once, thread-safely."""

    def __init__(self, base_dir):
        base_dir = os.fspath(base_dir)
        if not os.path.isdir(base_dir):
            raise ValueError(
                f"Model directory {base_dir!r} does not exist. Pass the --output of `mmpretrain "
                "export` (default saved_models), laid out as NAME/VERSION/saved_model.pb."
            )
        self.base_dir = base_dir
        self._loaded = {}  # (name, version) -> ServableModel
        self._failed = {}  # (name, version) -> error message
        self._locks = {}
        self._lock = threading.Lock()

    # === Discovery ===

    def model_names(self):
        names = []
        for entry in sorted(os.listdir(self.base_dir)):
            if not entry.startswith(".") and self.versions(entry):
                names.append(entry)
        return names

    def versions(self, name):
        """The complete versions of model `name` (serving_layout.list_versions)."""
        if name.startswith("."):
            return []
        return list_versions(os.path.join(self.base_dir, name), complete=True)

    def resolve(self, name, version=None):
        """(name, version) that exists on disk, or a 404 RequestError saying what does."""
        versions = self.versions(name)
        if not versions:
            raise RequestError(
                404, f"Model {name!r} not found under {self.base_dir!r}; available models: "
                f"{self.model_names()}.",
            )
        if version is None:
            return name, versions[-1]
        if not str(version).isdigit() or int(version) not in versions:
            raise RequestError(
                404, f"Model {name!r} has no version {version}; available versions: {versions}."
            )
        return name, int(version)

    def path(self, name, version):
        return os.path.join(self.base_dir, name, str(version))

    # === Loading ===

    def get(self, name, version=None):
        """The loaded ServableModel (loads it on first use)."""
        key = self.resolve(name, version)
        model = self._loaded.get(key)
        if model is not None:
            return model
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._loaded:
                return self._loaded[key]
            try:
                model = ServableModel(key[0], key[1], self.path(*key))
            except Exception as err:  # a damaged SavedModel must not take the server down
                self._failed[key] = f"{type(err).__name__}: {str(err)[:500]}"
                raise RequestError(
                    500, f"Model {key[0]!r} version {key[1]} could not be loaded: {self._failed[key]}"
                ) from None
            self._failed.pop(key, None)
            self._loaded[key] = model
            return model

    def preload(self):
        """Loads the latest version of every model now; returns {name: version or error}."""
        result = {}
        for name in self.model_names():
            try:
                result[name] = self.get(name).version
            except RequestError as err:
                result[name] = err.message
        return result

    # === Status and metadata (TF Serving's JSON) ===

    def status(self, name, version=None):
        name, latest = self.resolve(name, version)
        versions = [latest] if version is not None else self.versions(name)
        statuses = []
        for v in sorted(versions, reverse=True):
            error = self._failed.get((name, v))
            statuses.append({
                "version": str(v),
                "state": "END" if error else "AVAILABLE",
                "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error or ""},
            })
        return {"model_version_status": statuses}

    def metadata(self, name, version=None):
        name, version = self.resolve(name, version)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": signature_def_metadata(self.path(name, version))},
        }
