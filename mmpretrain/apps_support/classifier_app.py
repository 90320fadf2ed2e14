"""The trainable apps' common core: a head on the exported encoder, fit, evaluate, report, export.

    from mmpretrain.apps_support.app_data import load_text_data
    from mmpretrain.apps_support.classifier_app import train_classifier
    metrics = train_classifier("sentiment", load_text_data("vader"), label_fraction=0.1)

The model: raw input -> `load_encoder_layer(encoder, "serve_<modality>")` -> pooled_output
[B, D] -> Dropout(0.1) -> Dense(K) logits. Adam, a fixed number of epochs (no early stopping),
sparse categorical cross-entropy; by default a run with a fraction f of the labels trains for
1/f times the epochs, so every label fraction gets the same number of steps. `freeze=True` keeps the encoder fixed (a linear probe);
`from_scratch=True` trains the same model from freshly initialised encoder weights (see
`encoder_weights.py`). The validation split draws the learning curve; the test split, never
seen in training, gives the reported figures.

Label fractions are class-stratified and deterministic (`labels.stratified_subset`): the
training pool is first capped at `max_train_examples` (stratified), and `label_fraction` of
that pool is used; 10% is a subset of the 100% pool, the same for pretrained and scratch runs.
"""

import dataclasses
import math
import os
import time

import numpy as np


@dataclasses.dataclass(frozen=True)
class AppDefaults:
    """Per-app defaults, picked so one run takes about a minute on 2 CPU cores at full data."""

    modality: str
    data: str
    epochs: int
    learning_rate: float
    frozen_learning_rate: float
    max_train_examples: object = None
    max_test_examples: object = None


APPS = {
    "sentiment": AppDefaults("text", "vader", epochs=3, learning_rate=5e-4, frozen_learning_rate=5e-3,
                             max_train_examples=None, max_test_examples=None),
    "image_classification": AppDefaults("image", "fashion-mnist", epochs=3, learning_rate=1e-3,
                                        frozen_learning_rate=5e-3, max_train_examples=4000,
                                        max_test_examples=2000),
    "keyword_spotting": AppDefaults("audio", "speech", epochs=6, learning_rate=1e-3,
                                    frozen_learning_rate=5e-3, max_train_examples=None,
                                    max_test_examples=None),
}


def app_defaults(app):
    if app not in APPS:
        raise ValueError(f"Unknown classifier app {app!r}; the trainable apps are {sorted(APPS)}.")
    return APPS[app]


def data_slug(data):
    """'vader' -> 'vader'; 'path/to/reviews.csv' -> 'reviews' (a folder-name-safe data label)."""
    import re

    base = os.path.splitext(os.path.basename(str(data).rstrip("/\\")))[0] or "data"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base)


def run_tag(from_scratch, freeze, label_fraction):
    init = "scratch" if from_scratch else "pretrained"
    return f"{init}{'-frozen' if freeze else ''}-{round(100 * label_fraction):g}pct"


def _check_splits(app, splits, modality):
    if getattr(splits, "kind", None) != modality:
        raise ValueError(
            f"The {app} app classifies {modality}; received {getattr(splits, 'kind', type(splits).__name__)!r} data."
        )
    if not splits.labeled or not splits.class_names:
        raise ValueError(f"The {app} app needs labeled data with class names; this data is unlabeled.")
    if len(splits.class_names) < 2:
        raise ValueError(f"The {app} app needs at least two classes; received {splits.class_names}.")
    for name in ("train", "validation", "test"):
        if name not in splits.split_names or len(splits.inputs(name)) == 0:
            raise ValueError(f"The {app} app needs a non-empty {name!r} split; received {splits!r}.")


def best_validation_callback():
    """A callback that keeps the weights of the epoch with the lowest validation loss and
    restores them when `fit` ends (fine-tuning on few labels overfits within a few epochs).
    Epochs without a validation pass (`validation_freq`) are ignored."""
    import keras

    class RestoreBestValidation(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best, self.best_epoch, self.weights = float("inf"), None, None

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss")
            if loss is not None and loss < self.best:
                self.best, self.best_epoch, self.weights = loss, epoch + 1, self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return RestoreBestValidation()


def build_classifier(encoder_dir, config, modality, num_classes, freeze=False, from_scratch=False, seed=0):
    """(Keras model, encoder layer, head): raw input -> logits [B, num_classes]."""
    import keras

    from mmpretrain.apps_support.app_data import keras_inputs
    from mmpretrain.apps_support.encoder_weights import reinitialize
    from mmpretrain.export.trainable_encoder import load_encoder_layer

    keras.utils.set_random_seed(int(seed))
    encoder = load_encoder_layer(encoder_dir, f"serve_{modality}", trainable=not freeze, name="encoder")
    if from_scratch:
        reinitialize(encoder, config, seed)
    head = keras.Sequential(
        [keras.layers.Dropout(0.1, name="head_dropout"), keras.layers.Dense(num_classes, name="classifier")],
        name="head",
    )
    inputs = keras_inputs(modality, config)
    logits = head(encoder(inputs)["pooled_output"])  # [B, K]
    return keras.Model(inputs, logits, name="classifier_app"), encoder, head


def _dataset(inputs, labels=None, batch_size=32, shuffle_seed=None):
    import tensorflow as tf

    data = inputs if labels is None else (inputs, tf.constant(labels, tf.int32))
    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=int(shuffle_seed), reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(2)


def _select(splits, split, indices, modality, config):
    from mmpretrain.apps_support.app_data import model_inputs, take

    items = take(splits.inputs(split), indices)
    return model_inputs(modality, items, config), np.asarray(splits.labels(split))[indices]


def train_classifier(app, splits, encoder=None, *, data_name=None, freeze=False, from_scratch=False,
                     label_fraction=1.0, epochs=None, batch_size=32, learning_rate=None,
                     max_train_examples="default", max_test_examples="default", output=None, name=None,
                     report_dir=None, export=True, tflite=True, seed=0, verbose=1, command=None):
    """Fine-tunes (or probes) the encoder on `splits` and returns the metrics dict.

    Args:
        app: "sentiment", "image_classification" or "keyword_spotting" (sets the modality, the
            defaults and the exported model's name).
        splits: a labeled `DataSplits` of that modality (see `app_data`).
        encoder: an encoder SavedModel (NAME dir or NAME/VERSION); default
            saved_models/mmpretrain_tiny.
        freeze: train the head only (linear probe).
        from_scratch: same architecture, freshly initialised encoder weights.
        label_fraction: share of the (capped) training labels to use, stratified.
        epochs: default `APPS[app].epochs` / `label_fraction` (rounded up): every label fraction
            gets the same number of optimizer steps (10% of the labels -> 10x the epochs).
        learning_rate: default from `APPS[app]` (the frozen rate when `freeze`).
        max_train_examples, max_test_examples: caps (stratified) on the training pool and on
            the validation/test splits; "default" takes `APPS[app]`, None means no cap.
        output: where the app model is exported (OUTPUT/NAME/VERSION); default the models root
            (saved_models). `export=False` skips the export (e.g. for comparisons).
        name: the exported model's name; default `app` (the name the pipelines look for).
        report_dir: where metrics.json and report.png go; default runs/apps/APP/DATA/TAG
            (e.g. runs/apps/sentiment/vader/pretrained-10pct).
        tflite: also write and check the TFLite files.
        verbose: 0 silent, 1 progress lines, 2 Keras' per-epoch lines too.
    """
    import keras

    from mmpretrain.apps_support.app_data import numpy_inputs
    from mmpretrain.apps_support.labels import check_fraction, stratified_subset
    from mmpretrain.apps_support.models import models_root, require_modality, resolve_encoder
    from mmpretrain.apps_support.reports import classification_scores, write_report_png

    log = print if verbose else (lambda *a, **k: None)
    started = time.perf_counter()
    defaults = app_defaults(app)
    modality = defaults.modality
    encoder_dir, config = resolve_encoder(encoder)
    require_modality(config, modality, app, encoder_dir)
    _check_splits(app, splits, modality)
    fraction = check_fraction(label_fraction)
    if epochs is None:  # the same number of optimizer steps whatever the label fraction
        epochs = math.ceil(defaults.epochs / fraction - 1e-9)
    epochs = int(epochs)
    if epochs < 1 or int(batch_size) < 1:
        raise ValueError(f"epochs and batch_size must be positive integers; received {epochs}, {batch_size}.")
    if learning_rate is None:
        learning_rate = defaults.frozen_learning_rate if freeze else defaults.learning_rate
    cap_train = defaults.max_train_examples if max_train_examples == "default" else max_train_examples
    cap_test = defaults.max_test_examples if max_test_examples == "default" else max_test_examples
    class_names = [str(c) for c in splits.class_names]
    k = len(class_names)
    if export:
        from mmpretrain.export.run_export import check_name

        check_name(name or app)  # before training, not after

    # === Data ===
    train_labels = np.asarray(splits.labels("train"))
    pool = stratified_subset(train_labels, 1.0, limit=cap_train, seed=seed)
    train_idx = pool[stratified_subset(train_labels[pool], fraction, seed=seed)]
    x_train, y_train = _select(splits, "train", train_idx, modality, config)
    val_idx = stratified_subset(splits.labels("validation"), 1.0, limit=cap_test, seed=seed)
    x_val, y_val = _select(splits, "validation", val_idx, modality, config)
    test_idx = stratified_subset(splits.labels("test"), 1.0, limit=cap_test, seed=seed)
    x_test, y_test = _select(splits, "test", test_idx, modality, config)
    tag = run_tag(from_scratch, freeze, fraction)
    log(f"{app} [{tag}]: {len(y_train)} training examples ({fraction:.0%} of {len(pool)}), "
        f"{len(y_val)} validation, {len(y_test)} test, {k} classes; encoder {encoder_dir}")

    # === Model ===
    model, encoder_layer, head = build_classifier(encoder_dir, config, modality, k, freeze, from_scratch, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(float(learning_rate)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    fit_started = time.perf_counter()
    validation_freq = max(1, round(epochs / 10))  # at most ~10 validation passes per run
    best = best_validation_callback()
    history = model.fit(
        _dataset(x_train, y_train, batch_size, shuffle_seed=seed),
        validation_data=_dataset(x_val, y_val, batch_size),
        validation_freq=validation_freq,
        epochs=epochs,
        shuffle=False,  # the dataset shuffles itself (seeded, every epoch)
        verbose=2 if verbose >= 2 else 0,
        callbacks=[best],
    ).history
    train_seconds = time.perf_counter() - fit_started
    history = {key: [float(v) for v in values] for key, values in history.items()}
    history["validation_epochs"] = [e for e in range(1, epochs + 1) if e % validation_freq == 0]
    history["best_validation_epoch"] = best.best_epoch  # the weights evaluated and exported

    # === Evaluation on the held-out test split ===
    logits = model.predict(_dataset(x_test, batch_size=batch_size), verbose=0)
    probabilities = np.asarray(keras.ops.softmax(logits, axis=-1))
    predictions = probabilities.argmax(axis=-1)
    scores = classification_scores(y_test, predictions, k)
    log(f"{app} [{tag}]: test accuracy {scores['accuracy']:.4f} (majority class "
        f"{scores['majority_baseline']:.4f}), macro F1 {scores['macro_f1']:.4f}; fit {train_seconds:.1f}s")

    metrics = {
        "app": app,
        "task": {"text": "text-classification", "image": "image-classification",
                 "audio": "audio-classification"}[modality],
        "modality": modality,
        "data": data_name or defaults.data,
        "encoder": os.path.abspath(encoder_dir),
        "initialization": "scratch" if from_scratch else "pretrained",
        "freeze": bool(freeze),
        "label_fraction": fraction,
        "tag": tag,
        "class_names": class_names,
        "train_examples": int(len(y_train)),
        "train_pool_examples": int(len(pool)),
        "train_available_examples": int(len(train_labels)),
        "validation_examples": int(len(y_val)),
        "test_examples": int(len(y_test)),
        "epochs": epochs,
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "test_accuracy": scores["accuracy"],
        "test_macro_f1": scores["macro_f1"],
        "majority_baseline": scores["majority_baseline"],
        "per_class_recall": dict(zip(class_names, scores["per_class_recall"])),
        "confusion_matrix": scores["confusion_matrix"],
        "history": history,
        "train_seconds": round(train_seconds, 2),
        "command": command,
    }

    # === Report ===
    report_dir = report_dir or os.path.join("runs", "apps", app, data_slug(metrics["data"]), tag)
    os.makedirs(report_dir, exist_ok=True)
    png = os.path.join(report_dir, "report.png")
    title = (f"{app} on {metrics['data']} - {metrics['initialization']}{' (frozen)' if freeze else ''}, "
             f"{fraction:.0%} of labels ({len(y_train)}) - test accuracy {scores['accuracy']:.3f}")
    write_report_png(png, history, scores["confusion_matrix"], class_names, title)
    metrics["report_png"] = png
    metrics["metrics_json"] = os.path.join(report_dir, "metrics.json")

    # === Export ===
    if export:
        from mmpretrain.apps_support.app_export import export_classifier

        export_started = time.perf_counter()
        test_numpy = numpy_inputs(modality, x_test)
        export_classifier(
            model, encoder_layer, head, name or app, modality, class_names, encoder_dir, config,
            output or models_root(), test_numpy, (predictions.astype(np.int32), probabilities),
            metrics, png, tflite=tflite, log=log,
        )
        metrics["export_seconds"] = round(time.perf_counter() - export_started, 2)
        parity = metrics["export"]["parity"]
        line = f"SavedModel labels agree {parity['saved_model']['label_agreement']:.4f}"
        for q, r in parity.get("tflite", {}).items():
            line += f", TFLite {q} {r['label_agreement']:.4f} ({r['bytes'] / 1e6:.2f} MB)"
        log(f"{app} [{tag}]: {line} with the Keras model on {len(y_test)} test examples")
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    from mmpretrain.atomic_files import atomic_write_json

    atomic_write_json(metrics["metrics_json"], metrics)
    log(f"{app} [{tag}]: metrics {metrics['metrics_json']}, plot {png}")
    return metrics


def load_app_data(app, data, config, seed=0, **data_options):
    """The `DataSplits` an app trains on: its embedded source by name, or the user's files."""
    from mmpretrain.apps_support import app_data

    modality = app_defaults(app).modality
    if modality == "text":
        return app_data.load_text_data(data, seed=seed, **data_options)
    if modality == "image":
        return app_data.load_image_data(data, config, seed=seed, **data_options)
    return app_data.load_audio_data(data, config, seed=seed, **data_options)


def run_app(app, data=None, encoder=None, data_options=None, seed=0, **options):
    """Checks the encoder, loads the app's data and trains: what `apps/APP/train.py` runs.

    Returns the metrics dict of `train_classifier` (which takes `options`).
    """
    from mmpretrain.apps_support.models import require_modality, resolve_encoder

    defaults = app_defaults(app)
    encoder_dir, config = resolve_encoder(encoder)
    require_modality(config, defaults.modality, app, encoder_dir)  # before loading any data
    data = data or defaults.data
    splits = load_app_data(app, data, config, seed=seed, **(data_options or {}))
    return train_classifier(app, splits, encoder_dir, data_name=str(data), seed=seed, **options)
