"""load_encoder_layer: an exported encoder SavedModel as a trainable Keras 3 layer.

    encoder = load_encoder_layer("saved_models/tiny/1", "serve_text")
    text = keras.Input((), dtype="string")
    logits = keras.layers.Dense(2)(encoder(text)["pooled_output"])
    model = keras.Model(text, logits)
    model.compile(keras.optimizers.Adam(1e-4), ...)
    model.fit(tf.data.Dataset.from_tensor_slices((texts, labels)).batch(32))

Why not plain `keras.layers.TFSMLayer`: it wraps the SavedModel's variables under their TF
names, which end in ":0"; any optimizer with slot variables (Adam) then fails with
"'..._embeddings:0_momentum' is not a valid scope name". `EncoderLayer` is a TFSMLayer that
wraps the SAME tf.Variables (the restored functions read them) under clean names, so Adam,
AdamW and friends work and every encoder variable trains. It also calls the
`<signature>_training` function when `training=True` (dropout on), and, for a signature whose
inputs are one tensor plus `lengths` (audio: waveforms + lengths), accepts that tensor alone
(lengths = its full width).

Inputs, as the signature takes them:
    serve_text:  string [B]
    serve_image: uint8 [B, H, W, C]
    serve_audio: {"waveforms": float32 [B, T], "lengths": int32 [B]} or float32 [B, T]
Outputs: dict with `pooled_output` [B, D], `sequence_output` [B, N, D], `padding_mask` [B, N].

Do not wrap it in `tensorflow_hub.KerasLayer`: that is a tf_keras (Keras 2) layer, which Keras 3
models refuse or silently never train.
"""

import os
import re

import keras
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf.text ops the text graph holds)


def clean_variable_name(name):
    """'block_0/attention/query/kernel:0' -> 'block_0_attention_query_kernel'."""
    name = re.sub(r":\d+$", "", name)
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "variable"


@keras.saving.register_keras_serializable(package="mmpretrain")
class EncoderLayer(keras.layers.TFSMLayer):
    """A TFSMLayer over one endpoint of an exported SavedModel, trainable with any optimizer.

    Args:
        saved_model_dir: the SavedModel directory (e.g. `saved_models/NAME/VERSION`).
        signature: the endpoint to call (`serve_text`, `serve_image`, `serve_audio`, or any
            attached function of one argument).
        trainable: whether the encoder's variables train.
        training_endpoint: the function used when `training=True`; default
            `<signature>_training` when the SavedModel has it, else the signature itself.
    """

    def __init__(self, saved_model_dir, signature="serve_text", trainable=True,
                 training_endpoint=None, name=None, dtype=None, **kwargs):
        saved_model_dir = os.fspath(saved_model_dir)
        if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
            raise ValueError(
                f"{saved_model_dir!r} is not a SavedModel directory (no saved_model.pb). Pass a "
                "version directory such as saved_models/NAME/1 (`mmpretrain export` writes them)."
            )
        try:
            super().__init__(saved_model_dir, call_endpoint=signature, trainable=trainable,
                             name=name, dtype=dtype, **kwargs)
        except ValueError as err:
            raise ValueError(
                f"{saved_model_dir!r} has no endpoint {signature!r}; pass one of its serve_* "
                f"endpoints as `signature` ({err})."
            ) from None
        self.saved_model_dir = saved_model_dir
        self.signature = signature
        function = getattr(self._reloaded_obj, signature, None)
        if not isinstance(function, tf.types.experimental.GenericFunction):
            raise ValueError(
                f"Endpoint {signature!r} of {saved_model_dir!r} is a signature only; "
                "EncoderLayer needs an attached function of one argument (the serve_* endpoints "
                "that `write_saved_model` writes)."
            )
        self._input_structure = function.concrete_functions[0].structured_input_signature[0][0]
        if training_endpoint is None and hasattr(self._reloaded_obj, f"{signature}_training"):
            training_endpoint = f"{signature}_training"
        if training_endpoint is not None:
            self._set_training_endpoint(training_endpoint)

    def _set_training_endpoint(self, name):
        function = getattr(self._reloaded_obj, name, None)
        if function is None:
            raise ValueError(f"{self.saved_model_dir!r} has no training endpoint {name!r}.")
        tracked = {id(w.value) for w in self.weights}
        for concrete in function.concrete_functions:
            untracked = [v.name for v in concrete.variables if id(v) not in tracked]
            if untracked:
                raise ValueError(
                    f"Training endpoint {name!r} uses variables that {self.signature!r} does not "
                    f"({untracked[:5]}); they would not train. Export both from the same model."
                )
        self.call_training_endpoint = name
        self.call_training_endpoint_fn = function

    def _add_existing_weight(self, weight):
        """Tracks the restored tf.Variable `weight` under a name without ':0'."""
        variable = keras.Variable(
            initializer=weight,  # a tf.Variable: wrapped, not copied
            trainable=weight.trainable,
            dtype=weight.dtype,
            shape=weight.shape,
            name=clean_variable_name(weight.name),
        )
        self._track_variable(variable)

    def _standardize(self, inputs):
        structure = self._input_structure
        if isinstance(structure, dict):
            if isinstance(inputs, dict):
                missing = sorted(set(structure) - set(inputs))
                if missing:
                    raise ValueError(
                        f"Endpoint {self.signature!r} takes a dict with {sorted(structure)}; "
                        f"received keys {sorted(inputs)} (missing {missing})."
                    )
                return {k: tf.cast(inputs[k], structure[k].dtype) for k in structure}
            others = [k for k in structure if k != "lengths"]
            if "lengths" in structure and len(others) == 1:  # e.g. bare waveforms [B, T]
                values = tf.cast(tf.convert_to_tensor(inputs), structure[others[0]].dtype)
                lengths = tf.fill(tf.shape(values)[:1], tf.shape(values)[1])  # [B]: full width
                return {others[0]: values, "lengths": tf.cast(lengths, structure["lengths"].dtype)}
            raise ValueError(
                f"Endpoint {self.signature!r} takes a dict with {sorted(structure)}; received "
                f"{type(inputs).__name__}."
            )
        if isinstance(inputs, dict):
            raise ValueError(
                f"Endpoint {self.signature!r} takes one {structure.dtype.name} tensor of shape "
                f"{structure.shape}; received a dict with {sorted(inputs)}."
            )
        return inputs

    def call(self, inputs, training=False):
        outputs = super().call(self._standardize(inputs), training=training)
        return dict(outputs)

    def get_config(self):
        config = super().get_config()
        for key in ("filepath", "call_endpoint", "call_training_endpoint"):
            config.pop(key, None)
        config.update(saved_model_dir=self.saved_model_dir, signature=self.signature,
                      training_endpoint=self.call_training_endpoint)
        return config


def load_encoder_layer(saved_model_dir, signature="serve_text", trainable=True, name=None):
    """The encoder endpoint `signature` of `saved_model_dir` as a trainable Keras layer.

    Returns an `EncoderLayer`: call it on the signature's raw inputs (a string tensor, uint8
    images, or audio `{"waveforms", "lengths"}` / waveforms) to get a dict with
    `pooled_output`, `sequence_output` and `padding_mask`. Inside a Keras 3 model it trains
    with `fit` and any optimizer (Adam included); every variable the endpoint uses is one of
    `layer.trainable_weights` (when `trainable=True`).
    """
    return EncoderLayer(saved_model_dir, signature=signature, trainable=trainable, name=name)
