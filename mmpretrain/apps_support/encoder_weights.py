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
    """The SavedModel name of an encoder-layer weight, without ':0'."""
    raw = getattr(variable, "value", variable)
    return re.sub(r":\d+$", "", raw.name)


def _pairs(encoder_layer, backbone):
    weights = {w.path: w for w in backbone.weights}
    pairs, missing = [], []
    for variable in encoder_layer.weights:
        partner = weights.get(variable_name(variable))
        if partner is None or tuple(partner.shape) != tuple(variable.shape):
            missing.append(variable_name(variable))
        else:
            pairs.append((variable, partner))
    if missing or not pairs:
        raise ValueError(
            f"{len(missing)} of {len(encoder_layer.weights)} encoder variables have no partner of the "
            f"same shape in the backbone built from the encoder's config (e.g. {missing[:3]}); the "
            "SavedModel and its assets/config.json do not match. Re-export the encoder."
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
