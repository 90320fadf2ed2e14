"""The encoder SavedModel: one signature per modality on the shared weights, raw inputs in.

    serve_text   text       string  [B]                 UTF-8 sentences
    serve_image  images     uint8   [B, H, W, C]        any H and W; C = the model's channels
    serve_audio  waveforms  float32 [B, T]              16 kHz, zero-padded, any T
                 lengths    int32   [B]                 valid samples per row (1..T)
    -> pooled_output float32 [B, D], sequence_output float32 [B, N, D], padding_mask bool [B, N]

Each modality also gets a `<signature>_training` function (not a signature) that runs the same
graph with `training=True` (dropout on), for fine-tuning through `keras.layers.TFSMLayer` or
`mmpretrain.export.load_encoder_layer`. The preprocessing is inside the graph, so loading the
SavedModel needs `import tensorflow_text` whenever text is exported (the whole graph is
imported, whatever signature is called).

Signatures, inputs, config.json keys and assets all come from the modality records
(`mmpretrain.modalities`): `input_spec`, `preprocess`, `export_config`, `assets`; a new
modality's signature `serve_<name>` needs no edit here.

Assets: `assets/config.json` (everything a client needs: sample rate, image size and channels,
sequence length, signatures, the backbone and pretraining configs) and each record's own files
(`assets/vocab.txt` for text).
"""

import json

import tensorflow as tf

from mmpretrain.modalities.registry import get_modality

FORMAT = "mmpretrain.encoder"
FORMAT_VERSION = 1
OUTPUTS = ("pooled_output", "sequence_output", "padding_mask")


def signature_name(modality):
    return f"serve_{modality}"


def training_function_name(signature):
    return f"{signature}_training"


def input_spec(modality, preprocessor):
    """The raw-input spec of a modality's endpoint (one argument: a TensorSpec or a dict)."""
    return get_modality(modality).input_spec(preprocessor)


def preprocess(modality, preprocessor, inputs):
    """Raw inputs (as `input_spec` describes them) -> the backbone's input dict."""
    return get_modality(modality).preprocess(preprocessor, inputs)


def encoder_function(model, modality, preprocessor, training=False):
    """fn(raw inputs) -> {pooled_output, sequence_output, padding_mask} for one modality."""

    def encode(inputs):
        features = preprocess(modality, preprocessor, inputs)
        outputs = model(features, training=training)
        return {
            "pooled_output": outputs["pooled_output"],  # [B, D]
            "sequence_output": outputs["sequence_output"],  # [B, N, D]
            "padding_mask": features["padding_mask"],  # [B, N]
        }

    return encode


def describe_input(spec):
    def one(s):
        return {"dtype": s.dtype.name, "shape": [d if d is not None else -1 for d in s.shape.as_list()]}

    if isinstance(spec, dict):
        return {key: one(s) for key, s in spec.items()}
    return {spec.name: one(spec)}


def encoder_config(run, modalities):
    """The JSON that goes to assets/config.json."""
    import keras

    import mmpretrain

    pre = run.preprocessors
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mmpretrain_version": mmpretrain.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "hidden_dim": run.backbone.hidden_dim,
        "modalities": list(modalities),
        "signatures": {
            signature_name(m): {
                "modality": m,
                "inputs": describe_input(input_spec(m, pre[m])),
                "outputs": list(OUTPUTS),
                "training_function": training_function_name(signature_name(m)),
            }
            for m in modalities
        },
        "backbone": run.backbone.get_config(),
        "preprocessors": {m: run.preprocessor_configs[m] for m in modalities},
        "pretraining": run.config,
    }
    for m in modalities:  # what a client needs: sequence length, image size, sample rate, ...
        config.update(get_modality(m).export_config(pre[m]))
    return config


def check_modalities(run, modalities):
    """None -> every modality of the run; otherwise a validated tuple in the run's order."""
    if modalities is None:
        return run.modalities
    if isinstance(modalities, str):
        modalities = [m for m in modalities.replace(",", " ").split() if m]
    unknown = sorted(set(modalities) - set(run.modalities))
    if unknown or not modalities:
        raise ValueError(
            f"Cannot export modalities {unknown or list(modalities)}: the run has "
            f"{list(run.modalities)}. Pass a subset of those (e.g. --modalities text,image)."
        )
    return tuple(m for m in run.modalities if m in modalities)


def encoder_endpoints(run, modalities):
    """(signatures, training functions) dicts for `write_saved_model`."""
    signatures, functions = {}, {}
    for modality in modalities:
        model = run.backbone.modality_model(modality)
        preprocessor = run.preprocessors[modality]
        spec = input_spec(modality, preprocessor)
        name = signature_name(modality)
        signatures[name] = (encoder_function(model, modality, preprocessor), spec)
        functions[training_function_name(name)] = (
            encoder_function(model, modality, preprocessor, training=True), spec)
    return signatures, functions


def write_encoder_saved_model(path, run, modalities=None, extra_files=None):
    """Writes the encoder SavedModel of `run` (a `LoadedRun`) to `path`; returns its config."""
    from mmpretrain.export.saved_model_writer import write_saved_model

    modalities = check_modalities(run, modalities)
    signatures, functions = encoder_endpoints(run, modalities)
    config = encoder_config(run, modalities)
    assets = {"config_file": ("config.json", json.dumps(config, indent=2, sort_keys=True))}
    for m in modalities:  # e.g. the text vocabulary
        assets.update(get_modality(m).assets(run.preprocessors[m]))
    write_saved_model(path, signatures, functions=functions, assets=assets, extra_files=extra_files)
    return config
