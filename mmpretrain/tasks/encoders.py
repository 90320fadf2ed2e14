"""The exported encoder as the trunk of a task: loading it, and its raw inputs as keras.Input.

    encoder = load_encoder("saved_models/mmpretrain_tiny", "text")             # pretrained
    scratch = load_encoder("saved_models/mmpretrain_tiny", "text", from_scratch=True, seed=0)
    inputs = encoder_inputs(encoder)     # {"text": keras.Input}: named like the signature's inputs

An encoder is an `EncoderLayer` (`mmpretrain.export.trainable_encoder`) over one `serve_<modality>`
endpoint: the exported preprocessing inside, raw inputs in (strings, uint8 images, waveforms
and lengths), `pooled_output` [B, D], `sequence_output` [B, N, D], `padding_mask` [B, N] out.
Tasks build their functional graph on `encoder_inputs`, so their inputs are exactly the
endpoint's: a raw batch dict (`{"text": ...}`, `{"waveforms": ..., "lengths": ...}`) feeds them.
"""

SIGNATURE_PREFIX = "serve_"


def signature_of(modality):
    """The encoder endpoint of `modality` (`serve_<name>`)."""
    return f"{SIGNATURE_PREFIX}{modality}"


def modality_of(encoder):
    """The modality an `EncoderLayer`'s endpoint serves (`serve_<name>` -> name)."""
    signature = encoder.signature
    if not signature.startswith(SIGNATURE_PREFIX):
        raise ValueError(f"Encoder endpoint {signature!r} is not a {SIGNATURE_PREFIX}<modality> endpoint.")
    return signature[len(SIGNATURE_PREFIX):]


def resolve_encoder(encoder=None, modality=None, task=None):
    """(encoder version dir, its config.json) of a path (default: the demo's encoder); with
    `modality`, a ValueError naming `task` unless the encoder has that modality."""
    from mmpretrain.export import model_dirs

    encoder_dir, info = model_dirs.resolve_encoder(encoder)
    if modality is not None:
        model_dirs.require_modality(info, modality, task or "this task", encoder_dir)
    return encoder_dir, info


def load_encoder(encoder=None, modality="text", trainable=True, from_scratch=False, seed=0, name="encoder",
                 task=None):
    """The `serve_<modality>` endpoint of an encoder SavedModel as a Keras layer.

    Args:
        encoder: saved_models/NAME (its newest version) or NAME/VERSION; default the demo's.
        modality: the endpoint's modality (ValueError if the encoder lacks it).
        trainable: False keeps the encoder fixed (a linear probe on top).
        from_scratch: the same graph with freshly initialised weights (seeded): the initial
            values pretraining starts from, so "pretrained vs scratch" measures pretraining only.
        task: named in the error when the encoder lacks `modality`.
    """
    from mmpretrain.export.trainable_encoder import load_encoder_layer

    encoder_dir, info = resolve_encoder(encoder, modality, task)
    layer = load_encoder_layer(encoder_dir, signature_of(modality), trainable=trainable, name=name)
    if from_scratch:
        from mmpretrain.export.encoder_weights import reinitialize

        reinitialize(layer, info, seed)
    return layer


def input_structure(encoder):
    """The endpoint's input spec: one named tf.TensorSpec or a dict of them (batch dim first)."""
    return encoder._input_structure  # noqa: SLF001 (EncoderLayer reads it from the SavedModel)


def encoder_inputs(encoder):
    """dict {input name: keras.Input}, shaped, typed and named like the endpoint's inputs: the
    keys of a raw batch (`{"text"}`, `{"images"}`, `{"lengths", "waveforms"}`)."""
    import keras

    structure = input_structure(encoder)
    specs = structure if isinstance(structure, dict) else {structure.name: structure}
    return {key: keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype.name, name=key) for key, spec in specs.items()}


def endpoint_argument(encoder, inputs):
    """A raw batch dict (tensors or keras.Input) -> the one argument the endpoint takes."""
    structure = input_structure(encoder)
    return inputs if isinstance(structure, dict) else inputs[structure.name]


def as_raw_batch(names, inputs):
    """`inputs` as a raw batch dict: a lone tensor becomes {name: tensor} for one-input
    endpoints (`names`: the model's input names), so `model(texts)` works like
    `model({"text": texts})`."""
    if not isinstance(inputs, dict) and len(names) == 1:
        return {names[0]: inputs}
    return inputs

