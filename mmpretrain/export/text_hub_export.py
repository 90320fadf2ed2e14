"""The TF Hub text convention: a preprocessing SavedModel and an encoder on ids without tf.text.

    preprocess = hub.load("saved_models/NAME_text_preprocess/1")   # needs `import tensorflow_text`
    encoder = hub.load("saved_models/NAME_text_encoder/1")         # core TensorFlow only
    inputs = preprocess(tf.constant(["This is a great movie!"]))
    # {"input_word_ids": int32 [B, L], "input_mask": int32 [B, L], "input_type_ids": int32 [B, L]}
    outputs = encoder(inputs)
    # {"pooled_output": [B, D], "sequence_output": [B, L, D], "default": [B, D]}

Both have a `serving_default` signature (the preprocessing one takes `text`), a `__call__`, and
carry `assets/vocab.txt` and `assets/config.json`. The encoder also has a
`serving_default_training` function (dropout on): `load_encoder_layer(path, "serving_default")`
fine-tunes it on id inputs.

The encoder graph must hold core TensorFlow ops only, so that a stock TF Serving build and
`saved_model_cli run` can run it: `check_core_ops` verifies every op in the SavedModel is in
`tf.raw_ops`, and the export fails otherwise.
"""

import json

import tensorflow as tf

from mmpretrain.export.saved_model_writer import write_saved_model

TEXT = "text"  # the modality these companions belong to (TextModality.companion_exports)
HUB_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


def _ids_spec():
    return {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in HUB_INPUTS}


def preprocess_function(text_preprocessor):
    def preprocess(text):
        features = text_preprocessor(text)  # token_ids, padding_mask, segment_ids: [B, L]
        return {
            "input_word_ids": features["token_ids"],
            "input_mask": tf.cast(features["padding_mask"], tf.int32),
            "input_type_ids": features["segment_ids"],
        }

    return preprocess


def ids_encoder_function(text_model, training=False):
    def encode(inputs):
        features = {
            "token_ids": inputs["input_word_ids"],
            "padding_mask": tf.cast(inputs["input_mask"], tf.bool),
            "segment_ids": inputs["input_type_ids"],
        }
        outputs = text_model(features, training=training)
        return {
            "pooled_output": outputs["pooled_output"],  # [B, D]
            "sequence_output": outputs["sequence_output"],  # [B, L, D]
            "default": outputs["pooled_output"],  # TF Hub's name for the sentence embedding
        }

    return encode


def _assets(run, role):
    """The text record's assets (vocab.txt) and a config.json with its export_config keys."""
    from mmpretrain.modalities.registry import get_modality
    from mmpretrain.modalities.text_vocabulary import RESERVED_TOKENS

    record = get_modality(TEXT)
    pre = run.preprocessors[TEXT]
    config = {
        "format": f"mmpretrain.{role}",
        "format_version": 1,
        **record.export_config(pre),  # sequence_length, vocabulary_size/_file, lower_case
        "inputs": list(HUB_INPUTS),
        "special_tokens": {token: i for i, token in enumerate(RESERVED_TOKENS)},
        "hidden_dim": run.backbone.hidden_dim,
        "backbone": run.backbone.get_config(),
        "preprocessor": run.preprocessor_configs[TEXT],
    }
    return {
        **record.assets(pre),
        "config_file": ("config.json", json.dumps(config, indent=2, sort_keys=True)),
    }


def write_text_preprocess_saved_model(path, run):
    """strings [B] -> input_word_ids / input_mask / input_type_ids int32 [B, L]."""
    from mmpretrain.modalities.registry import get_modality

    fn = preprocess_function(run.preprocessors[TEXT])
    spec = get_modality(TEXT).input_spec(run.preprocessors[TEXT])  # string [B] named "text"
    write_saved_model(path, {"serving_default": (fn, spec)}, functions={"__call__": (fn, spec)},
                      assets=_assets(run, "text_preprocess"))
    return path


def write_text_encoder_saved_model(path, run):
    """TF Hub inputs dict -> pooled_output / sequence_output / default; no tf.text op."""
    model = run.backbone.modality_model(TEXT)
    serve = ids_encoder_function(model)
    write_saved_model(
        path,
        {"serving_default": (serve, _ids_spec())},
        functions={"__call__": (serve, _ids_spec()),
                   "serving_default_training": (ids_encoder_function(model, training=True), _ids_spec())},
        assets=_assets(run, "text_encoder"),
    )
    check_core_ops(path)
    return path


def saved_model_op_types(path):
    """Every op type in a SavedModel's graph and function library (function calls excluded)."""
    import os

    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops, functions = set(), set()
    for meta_graph in proto.meta_graphs:
        library = meta_graph.graph_def.library
        functions |= {function.signature.name for function in library.function}
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in library.function:
            ops |= {node.op for node in function.node_def}
    return ops - functions


def check_core_ops(path):
    """Raises ValueError if the SavedModel holds an op that core TensorFlow does not define."""
    foreign = sorted(op for op in saved_model_op_types(path) if not hasattr(tf.raw_ops, op))
    if foreign:
        raise ValueError(
            f"The SavedModel at {path!r} holds ops outside core TensorFlow {foreign}; a stock TF "
            "Serving build could not run it. The ids-only encoder must not preprocess text."
        )
