"""TFLite per modality: builtin ops + tf.text's TFLite kernels only, float32 and int8, with parity.

For each modality, `export_tflite` writes

    <modality>_float32.tflite   <modality>_float32.parity.json
    <modality>_int8.tflite      <modality>_int8.parity.json     (dynamic-range int8 weights)

Inputs and outputs are those of the encoder SavedModel's signature (see encoder_export.py),
unless the modality's record gives its own `tflite_function`: images, whose TFLite model takes
uint8 [B, S, S, C] at the model's own image size S and channels C (resize on the device first),
because the SavedModel resizes with antialiasing (`ScaleAndTranslate`), which has no TFLite
builtin kernel. The parity inputs are the records' raw sample batches, fed as they are.

Ops: conversion uses `supported_ops=[TFLITE_BUILTINS]` with custom ops allowed, then every
custom op in the flatbuffer must be one of tf.text's TFLite kernels (`TFTEXT_CUSTOM_OPS`); a
Flex op, any other custom op, or unfrozen variables (VAR_HANDLE) fail the export with a
ValueError. Run text models with
`InterpreterWithCustomOps(custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)`.
The converter drops graph assertions (UTF-8, finite samples): a TFLite text model maps invalid
UTF-8 to [UNK] and an audio model returns NaN for NaN samples; validate on the device.

int8 covers the learned weights only: dynamic-range quantization would also quantize the
preprocessing's constant matrices (the audio DFT and mel filterbank), and an 8-bit DFT wrecks
the quiet end of a log-mel spectrogram (pooled-output cosine to Keras fell to ~0.92 on speech).
For a modality whose record says `int8_keeps_float()` (audio), `keep_float_outside` restores
those constants to float32 after conversion: every quantized weight that does not belong to the
Keras model's name scope goes back to its float32 value.

Parity: each file is run on real inputs and compared with the Keras model (the eager
preprocessor + `backbone.modality_model`). float32 must agree to `float_tolerance` (1e-4),
otherwise the export fails; int8 is reported (max/mean diff, cosine similarity, nearest-neighbour
agreement) along with its size relative to the float32 file, for the whole file and for the
learned weights alone (`bytes_by_part`: at tiny model sizes the fixed preprocessing constants,
~0.6 MB of tokenizer models for text and ~0.7 MB of DFT/mel matrices for audio, dominate).
"""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from mmpretrain.export.encoder_export import encoder_function, input_spec
from mmpretrain.modalities.modality import spec_argument
from mmpretrain.modalities.registry import get_modality

# Custom ops that tensorflow_text's TFLite registrar (SELECT_TFTEXT_OPS) provides and that
# TextPreprocessor's graph produces. Anything else is refused.
TFTEXT_CUSTOM_OPS = frozenset({
    "FastBertNormalize",
    "FastWordpieceTokenizeWithOffsets",
    "FastWordpieceDetokenize",
    "RaggedTensorToTensor",
})
UNFROZEN_VARIABLE_OPS = frozenset({"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})
QUANTIZATIONS = ("float32", "int8")
FLOAT_TOLERANCE = 1e-4


# === Op checks ===


def list_ops(content):
    """The operator codes of a TFLite flatbuffer: (builtin names, custom codes), sorted."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    builtin, custom = set(), set()
    for code in model.operatorCodes:
        op = max(code.builtinCode, code.deprecatedBuiltinCode)
        if op == schema.BuiltinOperator.CUSTOM:
            custom.add(code.customCode.decode("utf-8") if isinstance(code.customCode, bytes) else str(code.customCode))
        else:
            builtin.add(names.get(op, f"BUILTIN_{op}"))
    return sorted(builtin), sorted(custom)


def check_tflite_ops(content, what="model"):
    """Raises ValueError unless the model has only builtins + tf.text kernels and frozen weights.

    Returns {"builtin": [...], "custom": [...]}.
    """
    builtin, custom = list_ops(content)
    flex = [op for op in custom if op.startswith("Flex")]
    if flex:
        raise ValueError(
            f"TFLite {what} holds Flex (Select TF) ops {flex}; they need the Flex delegate, which "
            "neither Python interpreter has. Accepted: TFLite builtins and tf.text's kernels "
            f"{sorted(TFTEXT_CUSTOM_OPS)}. Rewrite the graph with builtin-convertible ops."
        )
    unknown = [op for op in custom if op not in TFTEXT_CUSTOM_OPS]
    if unknown:
        raise ValueError(
            f"TFLite {what} holds custom ops {unknown} that have no TFLite kernel here. Accepted: "
            f"TFLite builtins and tf.text's kernels {sorted(TFTEXT_CUSTOM_OPS)}."
        )
    unfrozen = sorted(UNFROZEN_VARIABLE_OPS & set(builtin))
    if unfrozen:
        raise ValueError(
            f"TFLite {what} holds {unfrozen}: its weights were not frozen into the file. Convert "
            "from a SavedModel that tracks the raw tf.Variables (write_saved_model does)."
        )
    return {"builtin": builtin, "custom": custom}


# === Conversion ===


def tflite_function(run, modality, model=None):
    """(fn, input_spec) converted for `modality`: the record's `tflite_function` (e.g. images
    at a fixed size), or the encoder's own function when the record has none."""
    model = model or run.backbone.modality_model(modality)
    preprocessor = run.preprocessors[modality]
    twin = get_modality(modality).tflite_function(preprocessor, model)
    if twin is not None:
        return twin
    return encoder_function(model, modality, preprocessor), input_spec(modality, preprocessor)


def convert(saved_model_dir, signature, quantization):
    """Converts one signature of a SavedModel; returns the flatbuffer bytes."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; received {quantization!r}.")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True  # only for tf.text's kernels: check_tflite_ops enforces it
    if quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no dataset: dynamic-range int8
    return converter.convert()


def keep_float_outside(int8_content, float_content, scope):
    """Undoes the int8 quantization of every weight whose tensor name is outside `scope`.

    Both files come from the same SavedModel signature, so tensors match by name. Returns
    (new flatbuffer bytes, names of the tensors restored to float32).
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    quantized = flatbuffer_utils.convert_bytearray_to_object(bytearray(int8_content))
    reference = flatbuffer_utils.convert_bytearray_to_object(bytearray(float_content))
    floats = {}
    for graph in reference.subgraphs:
        for tensor in graph.tensors:
            data = reference.buffers[tensor.buffer].data
            if tensor.type == schema.TensorType.FLOAT32 and data is not None and len(data):
                floats[tensor.name] = (tensor, data)
    restored = []
    for graph in quantized.subgraphs:
        for tensor in graph.tensors:
            buffer = quantized.buffers[tensor.buffer]
            name = tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)
            if (tensor.type != schema.TensorType.INT8 or buffer.data is None or not len(buffer.data)
                    or name.startswith(scope) or tensor.name not in floats):
                continue
            original, data = floats[tensor.name]
            if list(original.shape) != list(tensor.shape):
                continue
            tensor.type = schema.TensorType.FLOAT32
            tensor.quantization = None
            buffer.data = data
            restored.append(name)
    if not restored:
        return int8_content, restored
    return bytes(flatbuffer_utils.convert_object_to_bytearray(quantized)), restored


def make_interpreter(content):
    """An ai-edge-litert interpreter with tf.text's TFLite kernels registered."""
    import tensorflow_text
    from ai_edge_litert import interpreter as litert

    return litert.InterpreterWithCustomOps(
        model_content=content,
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
    )


def run_tflite(content, inputs, signature=None):
    """Runs the (only) signature on a dict of numpy inputs; returns a dict of numpy outputs."""
    runner = make_interpreter(content).get_signature_runner(signature)
    return {key: np.asarray(value) for key, value in runner(**inputs).items()}


# === Parity ===


def tflite_inputs(modality, samples):
    """The TFLite signature's numpy inputs: the modality's raw batch itself."""
    return dict(samples[modality])


def keras_reference(run, modality, batch):
    """The Keras model on the eager preprocessor's output for a raw batch:
    {pooled_output, sequence_output, padding_mask} as numpy."""
    preprocessor = run.preprocessors[modality]
    record = get_modality(modality)
    features = record.preprocess(preprocessor, spec_argument(record.input_spec(preprocessor), batch))
    outputs = run.backbone.modality_model(modality)(features, training=False)
    return {
        "pooled_output": np.asarray(outputs["pooled_output"]),
        "sequence_output": np.asarray(outputs["sequence_output"]),
        "padding_mask": np.asarray(features["padding_mask"]),
    }


def compare(got, want):
    """Max/mean abs diffs per float output, cosine similarity and nearest-neighbour agreement."""
    report = {"max_abs_diff": {}, "mean_abs_diff": {}}
    for key in ("pooled_output", "sequence_output"):
        if got[key].shape != want[key].shape:
            raise ValueError(f"{key}: shape {got[key].shape} differs from the reference's {want[key].shape}.")
        diff = np.abs(got[key].astype(np.float64) - want[key].astype(np.float64))
        report["max_abs_diff"][key] = float(diff.max())
        report["mean_abs_diff"][key] = float(diff.mean())
    a, b = got["pooled_output"].astype(np.float64), want["pooled_output"].astype(np.float64)
    a_unit = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b_unit = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    cosine = (a_unit * b_unit).sum(axis=1)
    report["pooled_cosine_similarity"] = {"min": float(cosine.min()), "mean": float(cosine.mean())}
    if len(a) > 1:  # does each example find the same nearest neighbour among the others?
        def neighbours(u):
            similarity = u @ u.T
            np.fill_diagonal(similarity, -np.inf)
            return similarity.argmax(axis=1)

        report["nearest_neighbour_agreement"] = float(np.mean(neighbours(a_unit) == neighbours(b_unit)))
    report["padding_mask_equal"] = bool(np.array_equal(got["padding_mask"].astype(bool), want["padding_mask"].astype(bool)))
    return report


def describe_samples(modality, inputs):
    shapes = {k: list(np.shape(v)) for k, v in inputs.items()}
    return {"examples": int(len(next(iter(inputs.values())))), "shapes": shapes}


# === Export ===


def export_tflite(run, output_dir, modalities, samples, float_tolerance=FLOAT_TOLERANCE):
    """Writes the TFLite files and parity reports of `modalities` into `output_dir`.

    Args:
        run: a `LoadedRun`.
        output_dir: directory for the files (created).
        modalities: the modalities to convert.
        samples: real inputs, {modality: raw batch} (`mmpretrain.export.samples`); a raw
            batch is the dict of numpy arrays the TFLite signature takes (images at the model's
            own size and channels when the record converts a fixed-size twin).
        float_tolerance: max abs diff allowed between float32 TFLite and Keras outputs.

    Returns:
        dict modality -> {"float32": report, "int8": report}.

    Raises:
        ValueError: a Flex or unknown custom op, unfrozen weights, or float32 parity worse than
            `float_tolerance`.
    """
    from mmpretrain.export.saved_model_writer import write_saved_model

    os.makedirs(output_dir, exist_ok=True)
    reports = {}
    with tempfile.TemporaryDirectory(prefix="mmpretrain-tflite-") as staging:
        source = os.path.join(staging, "source")
        models = {m: run.backbone.modality_model(m) for m in modalities}
        write_saved_model(source, {m: tflite_function(run, m, models[m]) for m in modalities})
        for modality in modalities:
            inputs = tflite_inputs(modality, samples)
            reference = keras_reference(run, modality, inputs)
            keeps_float = get_modality(modality).int8_keeps_float()
            reports[modality] = {}
            float_bytes = None
            for quantization in QUANTIZATIONS:
                what = f"{modality}_{quantization}"
                content = convert(source, modality, quantization)
                restored = []
                if quantization == "float32":
                    float_content = content
                elif keeps_float:
                    content, restored = keep_float_outside(content, float_content, models[modality].name)
                ops = check_tflite_ops(content, what)
                report = {
                    "modality": modality,
                    "quantization": "float32" if quantization == "float32" else "dynamic_range_int8",
                    "file": f"{what}.tflite",
                    "bytes": len(content),
                    "bytes_by_part": bytes_by_part(content, models[modality].name),
                    "ops": ops,
                    "signature": modality,
                    "inputs": {k: str(v.dtype) for k, v in inputs.items()},
                    "reference": f"Keras backbone.modality_model({modality!r}) on the eager preprocessor's output",
                    "samples": describe_samples(modality, inputs),
                    **compare(run_tflite(content, inputs, modality), reference),
                }
                if quantization == "float32":
                    float_bytes = len(content)
                    float_learned = report["bytes_by_part"]["learned_weights"]
                    worst = max(report["max_abs_diff"].values())
                    report["tolerance"] = float_tolerance
                    report["passed"] = bool(worst <= float_tolerance and report["padding_mask_equal"])
                    if not report["passed"]:
                        raise ValueError(
                            f"TFLite {what} differs from the Keras model by {worst:.3g} (max abs, "
                            f"tolerance {float_tolerance:g}; padding masks equal: "
                            f"{report['padding_mask_equal']}); nothing was published."
                        )
                else:
                    report["size_ratio_to_float32"] = len(content) / float_bytes
                    report["learned_weights_ratio_to_float32"] = (
                        report["bytes_by_part"]["learned_weights"] / float_learned)
                    report["float32_preprocessing_constants"] = restored
                with open(os.path.join(output_dir, f"{what}.tflite"), "wb") as f:
                    f.write(content)
                with open(os.path.join(output_dir, f"{what}.parity.json"), "w", encoding="utf-8") as f:
                    json.dump(report, f, indent=2, sort_keys=True)
                reports[modality][quantization] = report
    return reports


def bytes_by_part(content, scope):
    """Where a file's bytes go: learned weights (constants inside the Keras model's name scope),
    preprocessing constants (every other constant: tokenizer models, DFT and mel matrices) and
    the rest (graph structure, metadata)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    learned = preprocessing = 0
    seen = set()
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            data = model.buffers[tensor.buffer].data
            if data is None or not len(data) or tensor.buffer in seen:
                continue
            seen.add(tensor.buffer)
            name = tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)
            if name.startswith(scope):
                learned += len(data)
            else:
                preprocessing += len(data)
    return {"learned_weights": learned, "preprocessing_constants": preprocessing,
            "other": len(content) - learned - preprocessing}
