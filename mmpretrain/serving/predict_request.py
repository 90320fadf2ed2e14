"""PredictRequest: TF Serving's REST predict body -> checked numpy batches -> response JSON.

Accepted bodies (https://www.tensorflow.org/tfx/serving/api_rest#predict_api):

    {"signature_name": "serve_text", "instances": ["a sentence", {"b64": "..."}]}      row format
    {"signature_name": "serve_audio", "instances": [{"waveforms": [...], "lengths": 16000}]}
    {"signature_name": "serve_image", "inputs": {"images": [[[[0], ...]]]}}           columnar
    {"inputs": [...]}                                                   one-input signatures

Values, by the signature input's dtype (see instance_values.py; nothing here knows modalities):
    string   a UTF-8 JSON string, or {"b64": base64 bytes} (checked by the model: text must be UTF-8)
    uint8    nested lists of 0..255, or {"b64": an encoded image file (PNG, JPEG, GIF, BMP, ...)},
             decoded to the input's channel count (at most `max_image_pixels`, checked first)
    float    nested lists of finite numbers, or, for a [B, T] waveform, {"b64": a WAV, FLAC or OGG
             file}, decoded to mono at the model's sample rate (16 kHz), cut to its max duration
    int      nested lists of integers

Batching: instances of equal shapes are stacked. Waveforms of different lengths are zero-padded
when the signature has a `lengths` input, which may be omitted (it defaults to each clip's
length) or replaced by a `mask` (1 on valid samples, 0 on padding). Other instances of different
shapes (e.g. images of several sizes) run as separate batches.

Responses: {"predictions": [...]} (row: one entry per instance, a dict of outputs or, for one
output, the bare value) or {"outputs": {...}} (columnar). Every refusal is a RequestError (400)
that names the input, the instance, what was received and what is accepted.
"""

import base64
import json
import math

import numpy as np

from mmpretrain.serving.errors import RequestError, clean_tf_message
from mmpretrain.serving.instance_values import DecodeLimits, to_instance  # noqa: F401 (re-exported)

DEFAULT_SIGNATURE = "serving_default"


def _bad(message):
    return RequestError(400, message)


def parse_json_body(body):
    """Bytes -> the JSON object of a request (RequestError 400 otherwise)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _bad(f"The request body is not UTF-8 ({err.reason} at byte {err.start}); send UTF-8 JSON.") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise _bad("The request JSON is nested too deeply.") from None
    except json.JSONDecodeError as err:
        raise _bad(f"Malformed JSON: {err.msg} at line {err.lineno} column {err.colno}.") from None
    if not isinstance(value, dict):
        raise _bad(
            f"The request JSON must be an object with 'instances' or 'inputs'; received a "
            f"{type(value).__name__}."
        )
    return value


class PredictRequest:
    """A decoded predict request for one signature.

    Attributes:
        signature_name: the signature to run.
        row_format: True for "instances", False for "inputs".
        count: number of instances.
        batches: list of (instance indices, {input name: batched numpy array}).
    """

    def __init__(self, body, signatures, limits=None):
        """body: the parsed JSON object; signatures: dict name -> {input name: TensorSpec};
        limits: a `DecodeLimits` for b64 files (default: 16 kHz audio, 4096 x 4096 images)."""
        unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
        if unknown:
            raise _bad(f"Unknown request keys {unknown}; accepted: 'signature_name' and one of 'instances' or 'inputs'.")
        if ("instances" in body) == ("inputs" in body):
            raise _bad("The request must have exactly one of 'instances' (row format) or 'inputs' (columnar format).")
        self.signature_name = body.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(self.signature_name, str) or self.signature_name not in signatures:
            raise _bad(f"Unknown signature_name {self.signature_name!r}; this model has {sorted(signatures)}.")
        self.specs = signatures[self.signature_name]
        self.row_format = "instances" in body
        columns = self._columns(body["instances"] if self.row_format else body["inputs"])
        self.count = len(next(iter(columns.values())))
        limits = limits or DecodeLimits()
        arrays = {name: [to_instance(v, self.specs[name], f"{name} of instance {i}", limits)
                         for i, v in enumerate(values)]
                  for name, values in columns.items() if name in self.specs}
        self.batches = self._batch(arrays, columns.get("mask"))

    # === JSON -> one list of instance values per input ===

    def _waveform_input(self):
        """The float [B, T] input that a `lengths` input describes, or None."""
        if "lengths" not in self.specs:
            return None
        for name, spec in self.specs.items():
            if name != "lengths" and spec.dtype.is_floating and spec.shape.rank == 2:
                return name
        return None

    def _columns(self, payload):
        names = list(self.specs)
        optional = {"lengths"} if self._waveform_input() else set()
        accepted = names + (["mask"] if optional else [])
        if self.row_format:
            if not isinstance(payload, list):
                raise _bad(f"'instances' must be a list (one entry per example); received {type(payload).__name__}.")
            if not payload:
                raise _bad("Empty batch: 'instances' must hold at least one instance.")
            if len(names) == 1 and not (isinstance(payload[0], dict) and set(payload[0]) <= set(accepted) and "b64" not in payload[0]):
                return {names[0]: payload}
            columns = {}
            for i, instance in enumerate(payload):
                if not isinstance(instance, dict) or "b64" in instance:
                    raise _bad(f"Instance {i}: signature {self.signature_name!r} takes inputs {names}; each instance must be an object with those keys.")
                self._check_keys(instance, names, optional, accepted, f"Instance {i}")
                for key, value in instance.items():
                    columns.setdefault(key, [None] * len(payload))[i] = value
            for key, values in columns.items():
                if any(v is None for v in values):
                    raise _bad(f"Input {key!r} is given for some instances but not all.")
            return columns
        if not isinstance(payload, dict):
            if len(names) != 1:
                raise _bad(f"'inputs' must be an object with keys {names} for signature {self.signature_name!r}.")
            payload = {names[0]: payload}
        self._check_keys(payload, names, optional, accepted, "'inputs'")
        sizes = {}
        for key, value in payload.items():
            if not isinstance(value, list):
                raise _bad(f"Input {key!r} must be a list with a leading batch axis; received {type(value).__name__}.")
            sizes[key] = len(value)
        if len(set(sizes.values())) != 1:
            raise _bad(f"All inputs must have the same batch size; received {sizes}.")
        if not next(iter(sizes.values())):
            raise _bad("Empty batch: the inputs hold no example.")
        return payload

    def _check_keys(self, given, names, optional, accepted, where):
        unknown = sorted(set(given) - set(accepted))
        missing = sorted(set(names) - set(given) - optional)
        if unknown or missing:
            raise _bad(
                f"{where}: signature {self.signature_name!r} takes inputs {names}"
                + (" (lengths may be omitted or given as 'mask')" if optional else "")
                + f"; missing {missing}, unknown {unknown}."
            )
        if "mask" in given and "lengths" in given:
            raise _bad(f"{where}: give 'lengths' or 'mask', not both.")

    # === instances -> batches ===

    def _batch(self, arrays, masks):
        waveform = self._waveform_input()
        if waveform is not None:
            return [(list(range(self.count)), self._pad_waveforms(arrays, waveform, masks))]
        groups = {}
        for i in range(self.count):
            key = tuple((name, values[i].shape) for name, values in arrays.items())
            groups.setdefault(key, []).append(i)
        return [
            (indices, {name: np.stack([arrays[name][i] for i in indices]) for name in arrays})
            for indices in groups.values()
        ]

    def _pad_waveforms(self, arrays, waveform, masks):
        clips = arrays[waveform]
        if masks is not None:
            lengths = [self._mask_length(m, len(c), i) for i, (m, c) in enumerate(zip(masks, clips))]
        elif "lengths" in arrays:
            lengths = [int(v) for v in arrays["lengths"]]
            for i, (n, clip) in enumerate(zip(lengths, clips)):
                if not 1 <= n <= len(clip):
                    raise _bad(f"lengths of instance {i}: must lie in [1, {len(clip)}] (the clip's samples); received {n}.")
        else:
            lengths = [len(c) for c in clips]
        width = max(len(c) for c in clips)
        batch = np.zeros((len(clips), width), clips[0].dtype)
        for i, clip in enumerate(clips):
            batch[i, : len(clip)] = clip
        others = {name: np.stack(values) for name, values in arrays.items() if name not in (waveform, "lengths")}
        lengths_dtype = self.specs["lengths"].dtype.as_numpy_dtype
        return {waveform: batch, "lengths": np.asarray(lengths, lengths_dtype), **others}

    @staticmethod
    def _mask_length(mask, size, index):
        values = np.asarray(mask)
        if values.dtype.kind not in "biuf" or values.shape != (size,) or not np.isin(values, (0, 1)).all():
            raise _bad(f"mask of instance {index}: expected {size} values of 0/1 (one per sample); received shape {list(values.shape)}.")
        count = int(values.sum())
        if count == 0 or not values[:count].all():
            raise _bad(f"mask of instance {index}: must be 1 on a non-empty prefix (the valid samples) and 0 after it.")
        return count


# === Running and answering ===


def _jsonable(array, name):
    """A numpy output -> JSON value (strings as UTF-8, or {"b64"} when not UTF-8 / *_bytes)."""
    if array.dtype == object or array.dtype.kind == "S":
        def convert(value):
            if isinstance(value, list):
                return [convert(v) for v in value]
            if not name.endswith("_bytes"):
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(value).decode("ascii")}

        return convert(array.tolist())
    return array.tolist()


def run_batches(function, request):
    """Runs each batch; returns per-instance output dicts of numpy arrays, in request order."""
    import tensorflow as tf

    per_instance = [None] * request.count
    for indices, inputs in request.batches:
        feed = {name: tf.constant(value, dtype=request.specs[name].dtype) for name, value in inputs.items()}
        try:
            outputs = function(**feed)
        except tf.errors.InvalidArgumentError as err:
            raise _bad(f"The model refused the input: {clean_tf_message(err.message)}") from None
        except (TypeError, ValueError) as err:
            raise _bad(f"The inputs do not fit signature {request.signature_name!r}: {clean_tf_message(err, 500)}") from None
        outputs = {key: value.numpy() for key, value in outputs.items()}
        for position, index in enumerate(indices):
            per_instance[index] = {key: value[position] for key, value in outputs.items()}
    return per_instance


def predict(model, body, limits=None):
    """A parsed predict body against a ServableModel -> the response JSON object.

    `limits`: a `DecodeLimits` (default: from the model's assets config, e.g. its sample rate
    and max_audio_seconds, with the default image pixel bound).
    """
    if limits is None:
        limits = DecodeLimits.for_model(getattr(model, "info", {}))
    request = PredictRequest(body, model.input_specs, limits)
    function = model.signature(request.signature_name)
    per_instance = run_batches(function, request)
    keys = model.output_keys[request.signature_name]
    if request.row_format:
        predictions = []
        for outputs in per_instance:
            values = {k: _jsonable(np.asarray(outputs[k]), k) for k in keys}
            predictions.append(values[keys[0]] if len(keys) == 1 else values)
        return {"predictions": predictions}
    columns = {}
    for key in keys:
        shapes = {np.shape(outputs[key]) for outputs in per_instance}
        if len(shapes) != 1:
            raise _bad(
                f"Output {key!r} has different shapes across the instances ({sorted(shapes)}); use "
                "the row format ('instances') for inputs of different sizes."
            )
        columns[key] = _jsonable(np.stack([outputs[key] for outputs in per_instance]), key)
    return {"outputs": columns[keys[0]] if len(keys) == 1 else columns}


def dumps(value):
    """JSON text; non-finite floats (which strict JSON lacks) become null."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":"))


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
