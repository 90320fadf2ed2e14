"""Classifier: the exported encoder + a classification head, trained with `fit`.

    encoder = load_encoder("saved_models/mmpretrain_tiny", "text")
    model = Classifier(encoder, num_classes=2)
    model.compile(learning_rate=5e-4)            # Adam, sparse categorical cross-entropy, accuracy
    model.fit(dataset, validation_data=validation, epochs=3)
    model.predict({"text": tf.constant(["This is a great movie!"])})   # logits [1, 2]

Like KerasHub's `TextClassifier` / `ImageClassifier` (a Task: backbone + head, sensible compile
defaults), for any modality the encoder serves: the model's inputs are the encoder endpoint's
raw inputs (strings, uint8 images, or waveforms + lengths), so a raw batch dict feeds it and
the exported preprocessing runs inside.
"""

import keras

from mmpretrain.tasks.encoders import as_raw_batch, encoder_inputs, endpoint_argument


@keras.saving.register_keras_serializable(package="mmpretrain")
class Classifier(keras.Model):
    """raw inputs -> encoder -> pooled_output [B, D] -> Dropout -> Dense(num_classes) logits [B, K].

    Args:
        encoder: an `EncoderLayer` (see `mmpretrain.tasks.load_encoder`); `encoder.trainable =
            False` (or `load_encoder(..., trainable=False)`) trains the head only.
        num_classes: number of classes K.
        dropout: dropout rate before the output layer.

    Attributes: `encoder`, and `head` (a `keras.Sequential`: Dropout, Dense named "classifier").
    """

    def __init__(self, encoder, num_classes, dropout=0.1, name="classifier_app", **kwargs):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2; received {num_classes!r}.")
        # === Layers ===
        head = keras.Sequential(
            [keras.layers.Dropout(dropout, name="head_dropout"), keras.layers.Dense(num_classes, name="classifier")],
            name="head",
        )
        # === Functional model ===
        inputs = encoder_inputs(encoder)
        logits = head(encoder(endpoint_argument(encoder, inputs))["pooled_output"])  # [B, K]
        super().__init__(inputs=inputs, outputs=logits, name=name, **kwargs)
        # === Config ===
        self.encoder = encoder
        self.head = head
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.raw_input_names = tuple(inputs)

    def call(self, inputs, training=None, mask=None, **kwargs):
        """A raw batch dict (or the one tensor of a one-input endpoint) -> the outputs."""
        return super().call(as_raw_batch(self.raw_input_names, inputs), training=training, mask=mask, **kwargs)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", *, learning_rate=1e-3,
                weight_decay=None, **kwargs):
        """Defaults: Adam(`learning_rate`: a float or a keras LearningRateSchedule) (AdamW when `weight_decay` is given, as KerasHub's
        classifiers), SparseCategoricalCrossentropy on logits, accuracy. Any of them can be
        passed instead, as to `keras.Model.compile`."""
        if optimizer == "auto":
            if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
                learning_rate = float(learning_rate)
            if weight_decay:
                optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=float(weight_decay))
            else:
                optimizer = keras.optimizers.Adam(learning_rate)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
