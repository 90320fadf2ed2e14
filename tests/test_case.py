"""Shared test helpers in KerasHub's manner (keras_hub/src/tests/test_case.py), as plain functions.

    from test_case import (run_export_test, run_layer_test, run_preprocessor_test,
                           run_serialization_test)

- `run_layer_test`: build, symbolic call (keras.Input), eager call, one `fit` step that changes
  the trainable weights, and the same under the "mixed_bfloat16" policy.
- `run_serialization_test`: get_config/from_config and serialize_keras_object round trips, and a
  `.keras` save/load that gives the same outputs (a `tf.Module` preprocessor: config round trip
  and same outputs).
- `run_preprocessor_test`: eager == inside `tf.data` == inside `tf.function`.
- `run_export_test`: write_saved_model, reload in a fresh process (TensorFlow only), compare with
  the in-process function at batch sizes 1 and N.
- `assert_all_close`: nested comparison, floats with a tolerance, everything else exactly.

`RAW_SAMPLES` holds, per registered modality, the preprocessor's constructor arguments and a small
raw batch; tests/test_shared_cases.py fails for a registered modality missing from it.

Nothing here imports mmpretrain at import time (the fresh-process check needs that, and the
restructured packages stay free to move).
"""

import inspect
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

FLOAT_ATOL = 1e-5

# === Raw samples per modality ===

# 30 tokens: the 5 reserved ones first (the text module requires exactly these ids 0..4).
TEXT_VOCABULARY = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "in",
    "mat",
    "park",
    "bird",
    "sing",
    "morning",
    "sun",
    "over",
    "hill",
    "rain",
    "town",
    "play",
    "garden",
    "##s",
    "##ing",
    "##ed",
    ",",
    ".",
]


def _waveforms():
    rng = np.random.default_rng(0)
    t = np.arange(1600) / 16000.0
    waves = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 880.0, 3000.0)])
    waves = (waves + 0.01 * rng.standard_normal(waves.shape)).astype(np.float32)  # [3, 1600]
    lengths = np.array([1600, 900, 400], np.int32)
    waves[1, 900:] = 0.0  # zero-padded rows, as a batch of clips of different lengths is
    waves[2, 400:] = 0.0
    return waves, lengths


_WAVES, _LENGTHS = _waveforms()

RAW_SAMPLES = {
    # name: {"preprocessor": constructor kwargs, "raw": the positional raw batch (3 examples),
    #        "call_kwargs": extra tensor keyword arguments of the preprocessor call}
    "text": {
        "preprocessor": {"vocabulary": TEXT_VOCABULARY, "sequence_length": 8},
        "raw": [
            "the cat sat on the mat",
            "a dog ran in the park",
            "Birds sing over the hills, unknownword.",
        ],
        "call_kwargs": {},
    },
    "image": {
        "preprocessor": {
            "image_size": 8,
            "patch_size": 2,
            "channels": 1,
        },  # patch_dim 4, 16 patches
        "raw": np.random.default_rng(1).integers(0, 256, size=(3, 10, 7, 3), dtype=np.uint8),
        "call_kwargs": {},
    },
    "audio": {
        # patch_dim 2 * 4 = 8; 0.1 s -> 51 frames -> 13 time rows x 4 mel rows = 52 patches
        "preprocessor": {
            "n_mels": 8,
            "n_fft": 64,
            "hop_length": 32,
            "patch_frequency": 2,
            "patch_time": 4,
            "max_seconds": 0.1,
        },
        "raw": _WAVES,
        "call_kwargs": {"lengths": _LENGTHS},
    },
}


def raw_sample(name):
    """RAW_SAMPLES[name]; a registered modality without an entry is a test failure."""
    import pytest

    if name not in RAW_SAMPLES:
        pytest.fail(
            f"Modality {name!r} is registered but tests/test_case.py RAW_SAMPLES has no entry "
            "for it. "
            f"Add RAW_SAMPLES[{name!r}] = {{'preprocessor': {{...constructor kwargs...}}, "
            "'raw': <a raw batch of 3>, 'call_kwargs': {...}} so the shared tests cover it."
        )
    return RAW_SAMPLES[name]


# === Comparison ===


def _to_numpy(x):
    if hasattr(x, "numpy") and callable(x.numpy):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _is_float(dtype):
    """True for float dtypes and their names ("float32", "bfloat16", ...)."""
    return str(dtype).startswith("float") or str(dtype) == "bfloat16"


def _decoded(array):
    return np.vectorize(
        lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v), otypes=[object]
    )(array)


def assert_all_close(expected, actual, atol=FLOAT_ATOL, rtol=0.0, where="output"):
    """Nested dicts/lists/tuples of arrays, tensors and scalars: same structure; float values within
    `atol + rtol * |expected|`; ints, bools, strings and labels exactly."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a dict, got {type(actual).__name__}"
        assert sorted(expected) == sorted(actual), (
            f"{where}: keys {sorted(expected)} != {sorted(actual)}"
        )
        for key in expected:
            assert_all_close(expected[key], actual[key], atol, rtol, f"{where}[{key!r}]")
        return
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)), (
            f"{where}: expected a sequence, got {type(actual).__name__}"
        )
        assert len(expected) == len(actual), f"{where}: length {len(expected)} != {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_all_close(e, a, atol, rtol, f"{where}[{i}]")
        return
    if isinstance(expected, (str, bytes)) or expected is None:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"
        return
    e, a = _to_numpy(expected), _to_numpy(actual)
    assert e.shape == a.shape, f"{where}: shape {e.shape} != {a.shape}"
    if _is_float(e.dtype) or _is_float(a.dtype):
        e64, a64 = e.astype(np.float64), a.astype(np.float64)
        np.testing.assert_allclose(a64, e64, atol=atol, rtol=rtol, err_msg=where)
    elif {e.dtype.kind, a.dtype.kind} & {"S", "O", "U"}:
        np.testing.assert_array_equal(_decoded(a), _decoded(e), err_msg=where)
    else:
        assert e.dtype.kind == a.dtype.kind, f"{where}: dtype {e.dtype} != {a.dtype}"
        np.testing.assert_array_equal(a, e, err_msg=where)


def _standard_dtype(x):
    import keras

    return keras.backend.standardize_dtype(x.dtype)


# === Layers ===


def _as_call_inputs(input_data):
    """A dict of keyword tensors as is; a single array becomes the first positional argument."""
    return input_data if isinstance(input_data, dict) else {None: input_data}


def _call(layer, inputs, call_kwargs, **extra):
    if None in inputs:
        return layer(inputs[None], **call_kwargs, **extra)
    return layer(**inputs, **call_kwargs, **extra)


def _shapes_of(structure):
    import keras

    return keras.tree.map_structure(lambda t: tuple(t.shape), structure)


def _as_shapes(shapes):
    """A shape (tuple of ints/None) or a dict/list of shapes, with every shape a tuple."""
    if isinstance(shapes, dict):
        return {k: _as_shapes(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple, dict)):
        return type(shapes)(_as_shapes(s) for s in shapes)
    return tuple(shapes)


def _without_batch(shapes):
    if isinstance(shapes, dict):
        return {k: _without_batch(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple, dict)):
        return type(shapes)(_without_batch(s) for s in shapes)
    return (None,) + tuple(shapes[1:])


def _build(layer, inputs):
    """layer.build with the argument names its signature asks for (`<arg>_shape`), else with the
    first input's shape."""
    shapes = {f"{k}_shape" if k else "input_shape": tuple(np.shape(v)) for k, v in inputs.items()}
    parameters = list(inspect.signature(layer.build).parameters)
    if parameters and set(parameters) <= set(shapes):
        layer.build(**{p: shapes[p] for p in parameters})
    else:
        layer.build(next(iter(shapes.values())))


class _Wrapper:
    """Lazily defined keras.Model subclass that calls one layer (keras imported on first use)."""

    cls = None

    @classmethod
    def make(cls, layer, call_kwargs):
        import keras

        if cls.cls is None:

            class LayerModel(keras.Model):
                def __init__(self, layer, call_kwargs):
                    super().__init__()
                    self.layer = layer
                    self.call_kwargs = dict(call_kwargs)

                def call(self, x, training=None):
                    return _call(
                        self.layer,
                        x if isinstance(x, dict) and None not in x else {None: x},
                        self.call_kwargs,
                        training=training,
                    )

            cls.cls = LayerModel
        return cls.cls(layer, call_kwargs)


def _fit_one_step(layer, input_data, call_kwargs, expect_unchanged, where):
    """One `fit` step of a model wrapping `layer` on random targets; every trainable weight must
    change (except paths containing a string of `expect_unchanged`)."""
    import keras

    model = _Wrapper.make(layer, call_kwargs)
    x = input_data
    out = model(x)
    rng = np.random.default_rng(0)
    targets = keras.tree.map_structure(
        lambda t: rng.normal(size=tuple(t.shape)).astype("float32"), out
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", jit_compile=False)
    before = {w.path: np.array(w.numpy()) for w in model.trainable_weights}
    assert before, f"{where}: the layer has no trainable weights"
    batch = len(next(iter(keras.tree.flatten(x))))
    history = model.fit(x, targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), f"{where}: training loss {loss}"
    unchanged = [
        w.path
        for w in model.trainable_weights
        if np.array_equal(np.asarray(w.numpy()), before[w.path])
    ]
    allowed = [p for p in unchanged if any(s in p for s in expect_unchanged)]
    assert not set(unchanged) - set(allowed), (
        f"{where}: one fit step left these trainable weights unchanged (no gradient?): "
        f"{sorted(set(unchanged) - set(allowed))}"
    )
    assert len(unchanged) < len(before), f"{where}: no weight changed"


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    call_kwargs=None,
    expect_unchanged=(),
    run_mixed_precision=True,
):
    """Basic checks of a Keras layer.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor keyword arguments.
        input_data: one array (the first positional argument) or a dict of arrays passed as keyword
            arguments (e.g. {"decoder_tokens": ..., "memory": ..., "memory_mask": ...}).
        expected_output_shape: shape (or nested shapes) of the eager output; the symbolic output
            must match it with the batch dimension as None.
        call_kwargs: non-tensor keyword arguments of every call (e.g. {"expert": "text"}).
        expect_unchanged: substrings of weight paths allowed to stay unchanged after a training
            step (weights the given inputs legitimately give no gradient, e.g. an unused expert).
        run_mixed_precision: also run the symbolic, eager and fit checks under "mixed_bfloat16".

    Returns the eager output.
    """
    import keras

    call_kwargs = dict(call_kwargs or {})
    inputs = _as_call_inputs(input_data)
    name = layer_cls.__name__

    # Build: explicit build() creates every weight a call uses.
    built = layer_cls(**init_kwargs)
    _build(built, inputs)
    assert built.built, f"{name}: not built after build()"
    built_weights = len(built.weights)

    # Eager call.
    layer = layer_cls(**init_kwargs)
    output = _call(layer, inputs, call_kwargs)
    eager_shapes = _shapes_of(output)
    if expected_output_shape is not None:
        assert eager_shapes == _as_shapes(expected_output_shape), (
            f"{name}: eager output shape {eager_shapes} != expected {expected_output_shape}"
        )
    for tensor in keras.tree.flatten(output):
        dtype = _standard_dtype(tensor)
        assert dtype == layer.compute_dtype or not _is_float(dtype), (
            f"{name}: output dtype {dtype} != compute dtype {layer.compute_dtype}"
        )
        assert np.isfinite(_to_numpy(tensor).astype(np.float64)).all(), f"{name}: non-finite output"
    assert len(layer.weights) == built_weights, (
        f"{name}: build() created {built_weights} weights, a call {len(layer.weights)}"
    )

    # Symbolic call (keras.Input, batch None) and the functional model on the same data.
    symbolic_layer = layer_cls(**init_kwargs)
    symbolic_inputs = {
        k: keras.Input(shape=np.shape(v)[1:], dtype=_standard_dtype(np.asarray(v)), name=k or "x")
        for k, v in inputs.items()
    }
    symbolic = _call(symbolic_layer, symbolic_inputs, call_kwargs)
    want = _without_batch(eager_shapes)
    got = _shapes_of(symbolic)
    assert got == want, f"{name}: symbolic output shape {got} != {want} (eager {eager_shapes})"
    spec = symbolic_layer.compute_output_spec(
        *([symbolic_inputs[None]] if None in symbolic_inputs else []),
        **{k: v for k, v in symbolic_inputs.items() if k},
        **call_kwargs,
    )
    assert _shapes_of(spec) == want, (
        f"{name}: compute_output_spec shape {_shapes_of(spec)} != {want}"
    )
    functional = keras.Model(
        symbolic_inputs[None] if None in symbolic_inputs else symbolic_inputs, symbolic
    )
    assert_all_close(
        _call(symbolic_layer, inputs, call_kwargs),
        functional(inputs[None] if None in inputs else inputs),
        atol=1e-6,
        where=f"{name}: functional model vs eager call of the same layer",
    )

    # One training step changes the trainable weights.
    _fit_one_step(layer_cls(**init_kwargs), input_data, call_kwargs, expect_unchanged, name)

    if run_mixed_precision:
        _mixed_precision_checks(
            layer_cls, init_kwargs, inputs, input_data, call_kwargs, want, expect_unchanged, name
        )
    return output


def _mixed_precision_checks(
    layer_cls, init_kwargs, inputs, input_data, call_kwargs, symbolic_shapes, expect_unchanged, name
):
    import keras

    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        where = f"{name} (mixed_bfloat16)"
        layer = layer_cls(**init_kwargs)
        assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32", where
        output = _call(layer, inputs, call_kwargs)
        for tensor in keras.tree.flatten(output):
            dtype = _standard_dtype(tensor)
            if _is_float(dtype):
                assert dtype == "bfloat16", f"{where}: float output in {dtype}, expected bfloat16"
            assert np.isfinite(_to_numpy(keras.ops.cast(tensor, "float32"))).all(), (
                f"{where}: non-finite output"
            )
        for weight in layer.weights:
            if _is_float(_standard_dtype(weight)):
                assert _standard_dtype(weight) == "float32", (
                    f"{where}: weight {weight.path} is {weight.dtype}"
                )
        symbolic_inputs = {
            k: keras.Input(
                shape=np.shape(v)[1:], dtype=_standard_dtype(np.asarray(v)), name=k or "x"
            )
            for k, v in inputs.items()
        }
        symbolic = _call(layer_cls(**init_kwargs), symbolic_inputs, call_kwargs)
        assert _shapes_of(symbolic) == symbolic_shapes, (
            f"{where}: symbolic shape {_shapes_of(symbolic)}"
        )
        for tensor in keras.tree.flatten(symbolic):
            if _is_float(_standard_dtype(tensor)):
                assert _standard_dtype(tensor) == "bfloat16", (
                    f"{where}: symbolic output {tensor.dtype}"
                )
        _fit_one_step(layer_cls(**init_kwargs), input_data, call_kwargs, expect_unchanged, where)
    finally:
        keras.config.set_dtype_policy(previous)


# === Serialization ===


def _default_call(instance, input_data, call_kwargs=None):
    return _call(instance, _as_call_inputs(input_data), dict(call_kwargs or {}))


def run_serialization_test(instance, input_data=None, call_fn=None, atol=1e-6):
    """Config and saving round trips.

    Keras layers/models: get_config -> from_config gives an equal (JSON) config;
    serialize_keras_object -> JSON -> deserialize_keras_object too (the class is registered); with
    `input_data`, a `.keras` save/load (temp dir) of a functional model around the instance gives
    outputs within `atol` of the instance's. Other objects (tf.Module preprocessors with
    get_config/from_config): the config round trip, and with `input_data` the rebuilt object gives
    the same outputs (floats within `atol`, the rest exactly).

    `call_fn(obj, input_data)` computes the outputs (default: `obj(input_data)`, or
    `obj(**input_data)` for a dict); for Keras objects it must also work on the symbolic
    `keras.Input` dict/tensor.
    """
    import keras

    cls = type(instance)
    config = instance.get_config()
    config_json = json.dumps(config, sort_keys=True)  # the config must be JSON-able
    revived = cls.from_config(json.loads(config_json))
    assert json.dumps(revived.get_config(), sort_keys=True) == config_json, (
        f"{cls.__name__}: from_config(get_config()) gives another config"
    )
    call_fn = call_fn or _default_call

    if not isinstance(instance, keras.layers.Layer):
        if input_data is not None:
            assert_all_close(
                call_fn(instance, input_data),
                call_fn(revived, input_data),
                atol=atol,
                where=f"{cls.__name__} rebuilt from its config",
            )
        return revived

    serialized = json.dumps(keras.saving.serialize_keras_object(instance), sort_keys=True)
    deserialized = keras.saving.deserialize_keras_object(json.loads(serialized))
    assert type(deserialized) is cls, f"deserialize_keras_object gave {type(deserialized).__name__}"
    assert json.dumps(deserialized.get_config(), sort_keys=True) == config_json

    if input_data is None:
        return revived
    expected = call_fn(instance, input_data)
    inputs = _as_call_inputs(input_data)
    symbolic = {
        k: keras.Input(shape=np.shape(v)[1:], dtype=_standard_dtype(np.asarray(v)), name=k or "x")
        for k, v in inputs.items()
    }
    model_inputs = symbolic[None] if None in symbolic else symbolic
    model = keras.Model(model_inputs, call_fn(instance, model_inputs))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert any(type(layer) is cls for layer in loaded._flatten_layers()), (
        f"the loaded .keras model holds no {cls.__name__}"
    )
    got = loaded(input_data)
    assert_all_close(expected, got, atol=atol, where=f"{cls.__name__} after .keras save/load")
    return loaded


# === Preprocessors ===


def _as_tensors(raw_input):
    """A tuple (e.g. a text pair) or dict elementwise; anything else (a list of strings too) as
    one tensor."""
    import tensorflow as tf

    if isinstance(raw_input, tuple):
        return tuple(_as_tensors(x) for x in raw_input)
    if isinstance(raw_input, dict):
        return {k: _as_tensors(v) for k, v in raw_input.items()}
    return tf.convert_to_tensor(np.asarray(raw_input))


def run_preprocessor_test(preprocessor, raw_input, call_kwargs=None, atol=FLOAT_ATOL):
    """The preprocessor's outputs eagerly == inside `tf.data.Dataset.from_tensors(...).map(...)` ==
    inside a `tf.function` traced with an unknown batch size. Floats within `atol`, ints and bools
    exactly; same keys, shapes and dtypes. `call_kwargs`: extra tensor keyword arguments (e.g.
    {"lengths": ...}). Returns the eager outputs."""
    import tensorflow as tf

    kwargs = dict(call_kwargs or {})
    raw = _as_tensors(raw_input)
    kwargs_t = {k: tf.convert_to_tensor(np.asarray(v)) for k, v in kwargs.items()}
    name = type(preprocessor).__name__

    eager = preprocessor(raw_input, **kwargs)
    assert isinstance(eager, dict) and eager, (
        f"{name}: expected a dict of tensors, got {type(eager)}"
    )

    dataset = tf.data.Dataset.from_tensors((raw, kwargs_t)).map(lambda x, kw: preprocessor(x, **kw))
    in_dataset = next(iter(dataset))

    def relaxed(t):  # the batch dimension unknown, as in an exported signature
        return (
            tf.TensorSpec([None] + t.shape.as_list()[1:], t.dtype)
            if t.shape.rank
            else tf.TensorSpec([], t.dtype)
        )

    traced = tf.function(
        lambda x, kw: preprocessor(x, **kw),
        input_signature=[
            tf.nest.map_structure(relaxed, raw),
            {k: relaxed(v) for k, v in kwargs_t.items()},
        ],
    )
    in_function = traced(raw, kwargs_t)

    for what, other in (("tf.data", in_dataset), ("tf.function", in_function)):
        assert sorted(other) == sorted(eager), (
            f"{name} in {what}: keys {sorted(other)} != {sorted(eager)}"
        )
        for key in eager:
            assert other[key].dtype == eager[key].dtype, (
                f"{name} in {what}: {key} dtype {other[key].dtype}"
            )
        assert_all_close(eager, other, atol=atol, where=f"{name} eager vs {what}")
    return eager


# === Export ===

_FRESH_LOAD = r"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
for module in json.loads(sys.argv[4]):
    try:
        __import__(module)
    except ImportError:
        pass
path, inputs_path, out_path = sys.argv[1:4]
data = np.load(inputs_path, allow_pickle=False)
loaded = tf.saved_model.load(path)
feeds = {}
for key in data.files:  # "<signature>|<batch size>|<input name>"
    signature, batch, name = key.split("|")
    feeds.setdefault((signature, batch), {})[name] = tf.constant(data[key])
results = {}
for (signature, batch), feed in feeds.items():
    for output, value in loaded.signatures[signature](**feed).items():
        results[f"{signature}|{batch}|{output}"] = value.numpy()
results["__mmpretrain_imported__"] = np.array(
    any(m == "mmpretrain" or m.startswith("mmpretrain.") for m in sys.modules))
np.savez(out_path, **results)
"""


def _take(batch, count):
    return {k: v[:count] for k, v in batch.items()}


def _as_feed(spec, inputs):
    """The raw inputs as {signature input name: numpy array} (strings as bytes)."""
    import tensorflow as tf

    if isinstance(spec, tf.TensorSpec):
        inputs = {spec.name: inputs}
    feed = {}
    for key, value in inputs.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (str, bytes)):
            value = np.array(
                [v.encode("utf-8") if isinstance(v, str) else v for v in value], dtype=bytes
            )
        feed[key] = np.asarray(value)
    return feed


def run_export_test(
    signatures,
    batch_size=3,
    atol=FLOAT_ATOL,
    fresh_imports=("tensorflow_text",),
    tmp_dir=None,
    timeout=240,
):
    """Exports `signatures` with `write_saved_model`, reloads the SavedModel in a fresh Python
    process (TensorFlow plus `fresh_imports` only; it must not import mmpretrain) and compares
    its outputs with the in-process functions at batch sizes 1 and `batch_size`.

    Args:
        signatures: {name: (fn, input_spec, inputs)}: `fn` and `input_spec` as write_saved_model
            takes them (a named tf.TensorSpec or a dict of them); `inputs` a raw batch of
            `batch_size` examples (an array/list for a single spec, else a dict name -> array).
        atol: float tolerance (different batch sizes differ by ~1e-7 on CPU).

    Also checks that the batch-of-1 outputs equal the first row of the batch of N (within `atol`).
    Returns {name: fresh-process outputs at batch_size}.
    """
    import tensorflow as tf

    from mmpretrain.export.saved_model_writer import write_saved_model

    own_tmp = tmp_dir is None
    folder = tempfile.mkdtemp(prefix="export-test-") if own_tmp else os.fspath(tmp_dir)
    path = os.path.join(folder, "saved_model")
    write_saved_model(
        path, signatures={name: (fn, spec) for name, (fn, spec, _) in signatures.items()}
    )

    feeds, expected = {}, {}
    for name, (fn, spec, inputs) in signatures.items():
        feed = _as_feed(spec, inputs)
        assert all(len(v) == batch_size for v in feed.values()), (
            f"{name}: inputs need {batch_size} examples"
        )
        for count in (1, batch_size):
            part = _take(feed, count)
            arg = {k: tf.constant(v) for k, v in part.items()}
            out = fn(arg[spec.name] if isinstance(spec, tf.TensorSpec) else arg)
            expected[(name, count)] = {k: v.numpy() for k, v in out.items()}
            for key, value in part.items():
                feeds[f"{name}|{count}|{key}"] = value

    inputs_path, out_path = os.path.join(folder, "inputs.npz"), os.path.join(folder, "outputs.npz")
    np.savez(inputs_path, **feeds)
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH_LOAD,
            path,
            inputs_path,
            out_path,
            json.dumps(list(fresh_imports)),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=folder,
    )
    assert process.returncode == 0, f"fresh-process load failed:\n{process.stderr[-3000:]}"
    got = np.load(out_path, allow_pickle=False)
    assert not bool(got["__mmpretrain_imported__"]), "loading the SavedModel imported mmpretrain"

    results = {}
    for (name, count), want in expected.items():
        fresh = {
            k.split("|")[2]: got[k] for k in got.files if k.split("|")[:2] == [name, str(count)]
        }
        assert_all_close(
            want, fresh, atol=atol, where=f"{name} fresh process vs in-process, batch {count}"
        )
        if count == batch_size:
            results[name] = fresh
    for name in signatures:  # batch of 1 == first row of the batch of N
        one, many = expected[(name, 1)], expected[(name, batch_size)]
        assert_all_close(
            one,
            {k: v[:1] for k, v in many.items()},
            atol=atol,
            where=f"{name}: batch of 1 vs row 0 of the batch of {batch_size}",
        )
    if own_tmp:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return results
