"""write_saved_model: the one SavedModel writer (encoders, the TF Hub text pair, task apps).

Each endpoint is a Python function of ONE argument (a tensor, or a dict of tensors) that returns
a dict of tensors; it may call Keras models and `tf.Module` preprocessors. The writer traces it
with its input spec and saves:

- `signatures`: attached to the root AND listed as SavedModel signatures (what TF Serving,
  `saved_model_cli` and `loaded.signatures[name](**inputs)` see). The first one is also
  `serving_default` unless one is named so.
- `functions`: attached to the root only (e.g. training endpoints with `training=True`, or
  `__call__`): callable after `tf.saved_model.load` / `hub.load`, invisible to servers.
- `variables` / `trainable_variables` / `non_trainable_variables` on the root: exactly the
  `tf.Variable`s the endpoints capture (TF Hub's reusable SavedModel convention).
- `assets`: files in `assets/`, tracked as `tf.saved_model.Asset` attributes of the root
  (`loaded.vocab_file.asset_path`); `extra_files`: plain files in `assets.extra/`.

Why not `keras.export.ExportArchive`: it makes every endpoint a signature (training endpoints
would be served) and has no way to attach assets. Like ExportArchive, we track the raw
`tf.Variable`s behind Keras variables: a SavedModel tracking the Keras wrappers instead
converts to TFLite with unfrozen VAR_HANDLE/READ_VARIABLE ops and no weights in the file.
"""

import os
import tempfile

import tensorflow as tf


def _as_input_signature(spec, where):
    """A TensorSpec or a flat dict of named TensorSpecs -> the one-argument input_signature."""
    if isinstance(spec, tf.TensorSpec):
        if not spec.name:
            raise ValueError(
                f"{where}: the input TensorSpec needs a name (it becomes the signature's input "
                f"key), e.g. tf.TensorSpec([None], tf.string, name='text'); received {spec}."
            )
        return [spec]
    if isinstance(spec, dict) and spec and all(isinstance(s, tf.TensorSpec) for s in spec.values()):
        named = {key: tf.TensorSpec(s.shape, s.dtype, name=key) for key, s in spec.items()}
        return [named]
    raise ValueError(
        f"{where}: the input spec must be a named tf.TensorSpec or a non-empty dict of "
        f"tf.TensorSpec (one argument per endpoint); received {spec!r}."
    )


def _variables_of(concrete_functions):
    """The distinct tf.Variables captured by the functions: (trainable, non_trainable)."""
    trainable, other, seen = [], [], set()
    for function in concrete_functions:
        for variable in function.trainable_variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                trainable.append(variable)
    for function in concrete_functions:
        for variable in function.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                other.append(variable)
    return trainable, other


def write_saved_model(path, signatures, functions=None, assets=None, extra_files=None):
    """Writes a SavedModel to `path` (which must not exist yet) and returns `path`.

    Args:
        path: the SavedModel directory to create.
        signatures: dict name -> (fn, input_spec): served endpoints. `fn(x)` returns a dict of
            tensors; `input_spec` is a named `tf.TensorSpec` or a dict name -> `tf.TensorSpec`.
        functions: dict name -> (fn, input_spec): attached, not served.
        assets: dict attribute -> (file name, str or bytes): files in `assets/`, reachable as
            `loaded.<attribute>.asset_path`.
        extra_files: dict relative path -> str or bytes, written under `assets.extra/`.
    """
    if not signatures:
        raise ValueError("write_saved_model needs at least one signature, e.g. {'serve': (fn, spec)}.")
    if os.path.exists(path):
        raise ValueError(f"{path!r} already exists; write_saved_model never overwrites a directory.")
    root = tf.__internal__.tracking.AutoTrackable()
    concrete = {}
    for kind, endpoints in (("signature", signatures), ("function", functions or {})):
        for name, (fn, spec) in endpoints.items():
            if hasattr(root, name) and name != "__call__":
                raise ValueError(f"Endpoint name {name!r} is used twice.")
            traced = tf.function(fn, input_signature=_as_input_signature(spec, f"{kind} {name!r}"),
                                 autograph=False)
            setattr(root, name, traced)
            concrete[(kind, name)] = traced.get_concrete_function()
    trainable, other = _variables_of(concrete.values())
    root.variables = trainable + other
    root.trainable_variables = trainable
    root.non_trainable_variables = other

    served = {name: concrete[("signature", name)] for name in signatures}
    if "serving_default" not in served:
        served["serving_default"] = served[next(iter(signatures))]

    with tempfile.TemporaryDirectory(prefix="mmpretrain-assets-") as staging:
        for attribute, (filename, content) in (assets or {}).items():
            source = os.path.join(staging, filename)
            _write_file(source, content)
            setattr(root, attribute, tf.saved_model.Asset(source))
        tf.saved_model.save(root, path, signatures=served)
    for relative, content in (extra_files or {}).items():
        _write_file(os.path.join(path, "assets.extra", relative), content)
    return path


def _write_file(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(content, (bytes, bytearray)) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(content)
