"""TextEmbedder: the exported encoder as an embedding model (Universal Sentence Encoder style).

    embed = TextEmbedder(load_encoder("saved_models/mmpretrain_tiny", "text"))
    vectors = embed.embed(["This is a great movie!", "What a waste of time."])  # numpy [2, D], unit length
    embed({"text": tf.constant(["Hello"])})                                       # the Keras call: [1, D]

An embedding is the encoder's `pooled_output` (mean over real tokens/patches of the last
layer), scaled to unit length with `normalize=True` (the default), so a dot product is the
cosine similarity. `embed()` takes user inputs (strings, bytes, lists, numpy arrays) and checks
them with the modality record's `decode` (the same checks and messages as the pipelines);
`mmpretrain.load(path)` wraps one TextEmbedder per modality (`normalize=False`). Named after
its main job, it embeds whatever modality its encoder endpoint serves (`serve_image` gives an
image embedder).
"""

import keras
import numpy as np

from mmpretrain.tasks.encoders import as_raw_batch, encoder_inputs, endpoint_argument, modality_of


@keras.saving.register_keras_serializable(package="mmpretrain")
class TextEmbedder(keras.Model):
    """raw inputs -> encoder -> pooled_output [B, D] (unit length with `normalize`).

    Args:
        encoder: an `EncoderLayer` (see `mmpretrain.tasks.load_encoder`).
        normalize: scale every embedding to unit L2 norm.
    """

    def __init__(self, encoder, normalize=True, name="text_embedder", **kwargs):
        inputs = encoder_inputs(encoder)
        pooled = encoder(endpoint_argument(encoder, inputs))["pooled_output"]  # [B, D]
        outputs = keras.layers.UnitNormalization(axis=-1, name="unit_length")(pooled) if normalize else pooled
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.encoder = encoder
        self.normalize = bool(normalize)
        self.raw_input_names = tuple(inputs)
        self._info = None

    def call(self, inputs, training=None, mask=None, **kwargs):
        """A raw batch dict (or the one tensor of a one-input endpoint) -> the outputs."""
        return super().call(as_raw_batch(self.raw_input_names, inputs), training=training, mask=mask, **kwargs)

    @property
    def modality(self):
        return modality_of(self.encoder)

    @property
    def info(self):
        """The encoder's config.json (what the modality record's decode and collate read)."""
        if self._info is None:
            from mmpretrain.export.model_dirs import encoder_config

            self._info = encoder_config(self.encoder.saved_model_dir)
        return self._info

    @info.setter
    def info(self, value):
        self._info = dict(value)

    def embed(self, inputs, batch_size=64, what="TextEmbedder"):
        """User inputs (one or a list) -> float32 numpy [N, D], one row per input.

        Bad input is a ValueError from the record's `decode`, prefixed with `what`.
        """
        from mmpretrain.modalities import get_modality
        from mmpretrain.modalities.modality import signature_arguments

        record = get_modality(self.modality)
        items, _ = record.decode(inputs, what, self.info)
        rows = []
        for start in range(0, len(items), int(batch_size)):
            chunk = items[start : start + int(batch_size)]
            part = [None] * len(chunk)
            for indices, batch in record.collate(chunk, self.info):
                vectors = np.asarray(self(signature_arguments(batch), training=False), np.float32)
                for row, vector in zip(indices, vectors):
                    part[row] = vector
            rows.extend(part)
        return np.stack(rows)

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "normalize": self.normalize,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
