"""The encoder's weights: fresh ones for --from-scratch, and back into a Keras backbone.


`--from-scratch` trains THE SAME model as the pretrained run: the same exported encoder graph
(preprocessing included), loaded with `load_encoder_layer`, whose variables are then overwritten
with a freshly initialised `MultimodalBackbone.from_config(config["backbone"])`'s values (the
initialisers pretraining starts from, seeded). Only the starting weights differ, so "pretrained
vs scratch" measures pretraining and nothing else.

Variables are matched by name: each restored variable of the SavedModel is named after the
backbone weight's path (`block_0/attention/query/kernel:0` <-> `block_0/attention/query/kernel`).
Every encoder variable must find its partner with the same shape, or a ValueError says which
did not.
"""

import re


def fresh_backbone(config, seed=0):
    """A `MultimodalBackbone` built from an encoder config (assets/config.json), random weights."""
    import keras

    from mmpretrain.backbone import MultimodalBackbone

    keras.utils.set_random_seed(int(seed))
    try:
        return MultimodalBackbone.from_config(dict(config["backbone"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"The encoder's config.json has no usable 'backbone' entry ({err}); re-export the "
            "encoder with `mmpretrain export RUN_DIR --name NAME`."
        ) from None


def variable_name(variable):
    """The SavedModel name of an encoder-layer weight (or of a restored tf.Variable), without ':0'."""
    raw = getattr(variable, "value", variable)
    raw = variable if callable(raw) else raw  # a tf.Variable's `value` is a method
    return re.sub(r":\d+$", "", raw.name)


def _pairs(encoder_layer, backbone, variables=None):
    """(saved variable, backbone weight) pairs; `variables` default: `encoder_layer.weights`."""
    variables = list(encoder_layer.weights if variables is None else variables)
    weights = {w.path: w for w in backbone.weights}
    pairs, missing = [], []
    for variable in variables:
        partner = weights.get(variable_name(variable))
        if partner is None or tuple(partner.shape) != tuple(variable.shape):
            missing.append(variable_name(variable))
        else:
            pairs.append((variable, partner))
    if missing or not pairs:
        current = sorted(set(weights) - {variable_name(v) for v in variables})
        raise ValueError(
            f"{len(missing)} of {len(variables)} encoder variables (e.g. {missing[:3]}) "
            "have no partner of the same name and shape in a backbone built by this version of "
            f"mmpretrain from the encoder's config (it has e.g. {current[:3]}): the encoder was "
            "exported by a different version of the code. --from-scratch, --init-from and image "
            "TFLite export need them to match: pretrain and export the encoder again with this version "
            "(`mmpretrain pretrain ...` then `mmpretrain export RUN_DIR --name NAME`)."
        )
    return pairs


def reinitialize(encoder_layer, config, seed=0):
    """Overwrites every variable of `encoder_layer` with fresh initial values. Returns it."""
    backbone = fresh_backbone(config, seed)
    for variable, partner in _pairs(encoder_layer, backbone):
        variable.assign(partner.numpy())
    return encoder_layer


def backbone_with_weights_of(encoder_layer, config):
    """A Keras `MultimodalBackbone` holding `encoder_layer`'s current (e.g. fine-tuned) values."""
    backbone = fresh_backbone(config)
    for variable, partner in _pairs(encoder_layer, backbone):
        partner.assign(variable.numpy())
    return backbone


def backbone_of_saved_model(encoder_dir, config):
    """A Keras `MultimodalBackbone` holding every variable of the encoder SavedModel `encoder_dir`
    (all its exported modalities and the shared blocks), `config` its assets/config.json.

    One `serve_<modality>` endpoint uses only its own front-end, so the variables come from the
    SavedModel's root, which tracks all of them. Front-ends of modalities the export left out
    keep fresh values. Used by `mmpretrain pretrain --init-from SAVED_MODEL`."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the text signature's graph holds tf.text ops)

    loaded = tf.saved_model.load(encoder_dir)
    backbone = fresh_backbone(config)
    for variable, partner in _pairs(None, backbone, variables=loaded.variables):
        partner.assign(variable.numpy())
    return backbone
