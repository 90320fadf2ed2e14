"""Modality: the one record that says everything the library knows about a modality.

A modality is a subclass of `Modality` with its parts filled in, registered once with
`mmpretrain.modalities.register_modality(MyModality())`. The backbone, pretraining, export,
TFLite, serving, pipelines and data code ask the record; none of them branches on a modality's
name. Adding a modality is one new module (see tests/test_toy_modality.py for one written
entirely inside a test file).

The parts, and who uses them:

    name, embedding_class, preprocessor_class   backbone (embedder by name), run loading
    objective                                   pretraining: masking, head, loss sums
    model_inputs(), embed()                     backbone: keras.Input specs, embedder call
    input_spec(), preprocess()                  export: the raw-input signature and its graph
    decode(), collate(), claims()               pipelines, load(): user inputs -> raw batches
    build_preprocessor(), pretraining_examples(),
    feature_table(), example_limit()            pretraining data
    sample_batch(), slice_batch()               export parity checks (SavedModel, TFLite)
    tflite_function(), int8_keeps_float()       TFLite conversion
    export_config(), assets(), companion_exports()
                                                config.json, assets/ and extra SavedModels
                                                (the TF Hub text pair) of the encoder
    saved_config(), load_preprocessor()         preprocessors.json of a run and back

A *raw batch* is a dict {signature input name: numpy array}, exactly what the exported
signature takes as keyword arguments (`{"text": ...}`, `{"images": ...}`,
`{"waveforms": ..., "lengths": ...}`); `signature_arguments()` turns one into tensors.
"""

import numpy as np

REQUIRED_ATTRIBUTES = ("name", "embedding_class", "preprocessor_class", "objective")
REQUIRED_METHODS = ("input_spec", "decode", "collate", "build_preprocessor", "sample_batch")


class Modality:
    """Base record; subclasses set the attributes and implement the required methods.

    Attributes:
        name: registry key, also the multiway expert's name and the `serve_<name>` signature.
        embedding_class: Keras layer class built with the preprocessor's `embedding_config()`
            keyword arguments plus `hidden_dim`, `dropout`, `dtype`, `name`.
        preprocessor_class: a `tf.Module` with `__call__`, `get_config`, `from_config` and
            `embedding_config`.
        objective: a pretraining objective instance (`mmpretrain.objectives`).
        accepted: what raw inputs the pipelines accept, for error messages.
        classification_top_k: HF's default top_k of a classification pipeline of this modality.
        single_label_answers: a classification pipeline answers one dict per input (HF's
            text-classification) rather than a ranked list.
    """

    name = None
    embedding_class = None
    preprocessor_class = None
    objective = None
    accepted = ""
    classification_top_k = 5
    single_label_answers = False
    augmentations = {}  # name -> label-preserving augmentation of one raw example (augmentations.py)

    # === Model ===

    def model_inputs(self, embedding_config):
        """dict of `keras.Input` for this modality's functional encoder (patch modalities)."""
        import keras

        return {
            "patches": keras.Input((None, embedding_config["patch_dim"]), dtype="float32", name="patches"),
            "padding_mask": keras.Input((None,), dtype="bool", name="padding_mask"),
        }

    def embed(self, embedder, inputs, training=None):
        """Calls the embedder on the model-input dict -> tokens [B, N, D] (patch modalities)."""
        if "patches" not in inputs:
            raise ValueError(
                f"Inputs for modality {self.name!r} need 'patches'; received keys {sorted(inputs)}."
            )
        return embedder(inputs["patches"], positions=inputs.get("positions"), training=training)

    # === Export: raw inputs in ===

    def input_spec(self, preprocessor):
        """The raw-input spec of the export signature: one named TensorSpec or a dict of them."""
        raise NotImplementedError

    def preprocess(self, preprocessor, raw):
        """Raw inputs shaped as `input_spec` -> the backbone's input dict (TF ops)."""
        if isinstance(raw, dict):
            return preprocessor(**raw)
        return preprocessor(raw)

    # === User inputs (pipelines, load(), data loaders) ===

    def decode(self, inputs, what, info):
        """User inputs -> (list of examples, single). `info`: the model's config.json."""
        raise NotImplementedError

    def collate(self, examples, info):
        """List of decoded examples -> list of (row indices, raw batch) to run."""
        raise NotImplementedError

    def claims(self, value):
        """True when `value` (one input or its first item) is unambiguously of this modality."""
        return False

    # === Pretraining ===

    def build_preprocessor(self, config, examples, run_dir, chief):
        """The preprocessor of a pretraining run (`config` a PretrainConfig)."""
        raise NotImplementedError

    def pretraining_examples(self, items, config):
        """Loaded training items -> the examples the run preprocesses (default: as they are)."""
        return items

    def example_limit(self, config):
        """How many training examples the run keeps (0 = all)."""
        return int(getattr(config, f"{self.name}_examples", 0) or 0)

    def feature_table(self, preprocessor, examples, config, chunk=256):
        """Examples -> dict of stacked numpy feature arrays [N, ...], preprocessed once."""
        parts = []
        for start in range(0, len(examples), chunk):
            for _, batch in self.collate(list(examples[start : start + chunk]), self.pretraining_info(config)):
                features = self.preprocess(preprocessor, _single_or_dict(self.input_spec(preprocessor), batch))
                parts.append({k: np.asarray(v) for k, v in features.items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def pretraining_info(self, config):
        """The `info` dict `collate` gets during pretraining (default: nothing)."""
        return {}

    def default_pretraining_splits(self, config, progress):
        """The embedded unlabeled data (a `DataSplits`) when the user gives none."""
        raise ValueError(
            f"Modality {self.name!r} has no embedded pretraining data; pass the data to "
            "PretrainingRun.prepare(...) directly."
        )

    def user_pretraining_splits(self, source, config):
        """The user's own unlabeled data (a `DataSplits`) from `source` (a path or glob)."""
        raise ValueError(f"Modality {self.name!r} reads no user folders; pass the data directly.")

    # === Export checks and TFLite ===

    def sample_batch(self, preprocessor):
        """A small raw batch of real inputs for parity checks."""
        raise NotImplementedError

    def slice_batch(self, batch, count):
        """The first `count` rows of a raw batch."""
        return {key: value[:count] for key, value in batch.items()}

    def tflite_function(self, preprocessor, model):
        """(fn, spec) to convert to TFLite, or None to convert the SavedModel's encoder as is."""
        return None

    def companion_exports(self):
        """Extra SavedModels written beside the encoder: {suffix: writer(path, run)}."""
        return {}

    def int8_keeps_float(self):
        """Dynamic-range int8 keeps weights outside the encoder in float32 (e.g. DFT matrices)."""
        return False

    # === Config and assets ===

    def export_config(self, preprocessor):
        """Keys this modality adds to an exported model's config.json."""
        return {}

    def assets(self, preprocessor):
        """Files for the SavedModel's assets/: {attribute name: (file name, text)}."""
        return {}

    def saved_config(self, preprocessor):
        """The JSON config kept in a run's preprocessors.json."""
        return preprocessor.get_config()

    def load_preprocessor(self, config, run_dir):
        """Rebuilds the preprocessor from `saved_config` output (and files in `run_dir`)."""
        return self.preprocessor_class.from_config(dict(config))

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _single_or_dict(spec, batch):
    """A raw batch as the one argument of a function traced with `spec`."""
    import tensorflow as tf

    if isinstance(spec, tf.TensorSpec):
        return tf.constant(batch[spec.name])
    return {key: tf.constant(batch[key]) for key in spec}


def signature_arguments(batch):
    """A raw batch -> keyword arguments of an exported signature (tensors)."""
    import tensorflow as tf

    return {key: tf.constant(value) for key, value in batch.items()}


def spec_argument(spec, batch):
    """A raw batch -> the one argument of a function traced with `spec` (tensor or dict)."""
    return _single_or_dict(spec, batch)


def batch_size(batch):
    """Rows of a raw batch."""
    return len(next(iter(batch.values())))


def check_record(record):
    """ValueError naming every required part that `record` lacks."""
    if not isinstance(record, Modality):
        raise ValueError(
            f"register_modality takes a Modality instance (a subclass of "
            f"mmpretrain.modalities.Modality); received {type(record).__name__}."
        )
    missing = [a for a in REQUIRED_ATTRIBUTES if getattr(record, a, None) in (None, "")]
    missing += [
        f"{m}()" for m in REQUIRED_METHODS if getattr(type(record), m) is getattr(Modality, m)
    ]
    if missing:
        raise ValueError(
            f"Modality {getattr(record, 'name', None)!r} ({type(record).__name__}) lacks required "
            f"parts: {missing}. A modality sets {list(REQUIRED_ATTRIBUTES)} and implements "
            f"{[m + '()' for m in REQUIRED_METHODS]}."
        )
    if not isinstance(record.name, str) or not record.name.isidentifier():
        raise ValueError(
            f"A modality name must be a Python identifier (it names signatures and layers); "
            f"received {record.name!r}."
        )
