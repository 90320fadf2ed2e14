"""The bookkeeping around a classifier app's `keras.fit`, shared by the three train.py scripts.

Each script shows its steps in order (data, model, compile, fit, evaluation, export); this
module holds what they share:

    settings = training.settings(APP, MODALITY, DEFAULTS, encoder, data, **options)
    labeled = training.labeled_data(splits, settings)     # tf.data train / validation / test
    best = training.restore_best_validation()             # keras callback
    metrics = training.evaluate(model, labeled, history, best, settings)   # metrics + report.png
    training.export(model, labeled, metrics, settings)    # saved_models/APP/VERSION + TFLite
    return training.finish(metrics, settings)             # metrics.json

Defaults (`AppDefaults`, one per script) are picked so one run takes about a minute on 2 CPU
cores at full data. A run with a fraction f of the labels trains for 1/f times the epochs, so
every label fraction gets the same number of optimizer steps. Label fractions are
class-stratified and deterministic (`mmpretrain.data.label_fractions`): the training pool is
first capped at `max_train_examples`, and `label_fraction` of that pool is used; 10% is a subset
of the 100% pool, the same for pretrained and scratch runs. The validation split draws the
learning curve; the test split, never seen in training, gives the reported figures.
"""

import dataclasses
import math
import os
import re
import time

import numpy as np


@dataclasses.dataclass(frozen=True)
class AppDefaults:
    """A classifier app's defaults: its data, epochs at 100% of the labels, learning rates, caps."""

    data: str
    epochs: int
    learning_rate: float
    frozen_learning_rate: float
    max_train_examples: object = None
    max_test_examples: object = None
    augment: tuple = ()  # names from the modality record's `augmentations`, training split only
    schedule: str = "constant"  # or "cosine": linear warmup over WARMUP_SHARE of the steps, cosine to 0


SCHEDULES = ("constant", "cosine")
WARMUP_SHARE = 0.1


@dataclasses.dataclass
class Settings:
    """One run's settings, checked, with the app's defaults filled in."""

    app: str
    modality: str
    encoder_dir: str
    encoder_config: dict
    data_name: str
    freeze: bool
    from_scratch: bool
    label_fraction: float
    epochs: int
    batch_size: int
    learning_rate: float
    max_train_examples: object
    max_test_examples: object
    output: object
    name: str
    report_dir: object
    export: bool
    tflite: bool
    seed: int
    split_seed: int
    augment: tuple
    schedule: str
    verbose: int
    command: object
    started: float
    adapt: int = 0  # --adapt STEPS done (apps.common.adaptation): the encoder is the adapted one
    adaptation: dict = None  # where it went and its held-out masked loss, for metrics.json

    @property
    def tag(self):
        return run_tag(self.from_scratch, self.freeze, self.label_fraction, self.adapt)

    @property
    def validation_freq(self):
        return max(1, round(self.epochs / 10))  # at most ~10 validation passes per run

    @property
    def keras_verbose(self):
        return 2 if self.verbose >= 2 else 0

    def log(self, *args):
        if self.verbose:
            print(*args, flush=True)


def data_slug(data):
    """'vader' -> 'vader'; 'path/to/reviews.csv' -> 'reviews' (a folder-name-safe data label)."""
    base = os.path.splitext(os.path.basename(str(data).rstrip("/\\")))[0] or "data"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base)


def run_tag(from_scratch, freeze, label_fraction, adapt=0):
    init = "scratch" if from_scratch else (f"adapted{adapt}" if adapt else "pretrained")
    return f"{init}{'-frozen' if freeze else ''}-{round(100 * label_fraction):g}pct"


def caps(defaults, max_train_examples="default", max_test_examples="default"):
    """{"max_train_examples", "max_test_examples"} with "default" replaced by the app's `defaults`."""
    return {
        "max_train_examples": defaults.max_train_examples if max_train_examples == "default" else max_train_examples,
        "max_test_examples": defaults.max_test_examples if max_test_examples == "default" else max_test_examples,
    }


def settings(app, modality, defaults, encoder=None, data=None, *, freeze=False, from_scratch=False,
             label_fraction=1.0, epochs=None, batch_size=32, learning_rate=None, max_train_examples="default",
             max_test_examples="default", output=None, name=None, report_dir=None, export=True, tflite=True,
             seed=0, split_seed=0, augment="default", schedule="default", verbose=1, command=None,
             data_name=None):
    """Checks the options (the encoder has `modality`, the label fraction, the export name) before
    any data loads, and fills in the app's defaults ("default" caps take `defaults`', None: no cap).
    `epochs` default: `defaults.epochs` / `label_fraction` (rounded up). `augment`: names of the
    modality's augmentations for the training split ("default": `defaults.augment`; a
    comma-separated string, a list, or "none")."""
    from mmpretrain.data.label_fractions import check_fraction
    from mmpretrain.tasks.encoders import resolve_encoder

    started = time.perf_counter()
    encoder_dir, info = resolve_encoder(encoder, modality, app)
    fraction = check_fraction(label_fraction)
    if epochs is None:  # the same number of optimizer steps whatever the label fraction
        epochs = math.ceil(defaults.epochs / fraction - 1e-9)
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"epochs and batch_size must be positive integers; received {epochs}, {batch_size}.")
    if learning_rate is None:
        learning_rate = defaults.frozen_learning_rate if freeze else defaults.learning_rate
    augment = _augment_names(defaults.augment if augment == "default" else augment, modality)
    schedule = defaults.schedule if schedule == "default" else schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}; received {schedule!r}.")
    if export:
        from mmpretrain.export.run_export import check_name

        check_name(name or app)  # before training, not after
    return Settings(
        app=app, modality=modality, encoder_dir=encoder_dir, encoder_config=info,
        data_name=str(data_name or data or defaults.data), freeze=bool(freeze), from_scratch=bool(from_scratch),
        label_fraction=fraction, epochs=int(epochs), batch_size=int(batch_size), learning_rate=float(learning_rate),
        **caps(defaults, max_train_examples, max_test_examples),
        output=output, name=name or app, report_dir=report_dir, export=bool(export), tflite=bool(tflite),
        seed=int(seed), split_seed=int(split_seed), augment=augment, schedule=schedule, verbose=int(verbose), command=command, started=started,
    )


def _augment_names(augment, modality):
    """"none" / "" / None -> (); "flip,shift" or a list -> checked tuple of names."""
    from mmpretrain.modalities.augmentations import compose
    from mmpretrain.modalities.registry import get_modality

    if augment is None or (isinstance(augment, str) and augment.strip().lower() in ("", "none")):
        return ()
    names = tuple(n.strip() for n in (augment.split(",") if isinstance(augment, str) else augment) if n.strip())
    compose(get_modality(modality).augmentations, names, modality)  # raises on unknown names
    return names


@dataclasses.dataclass
class LabeledData:
    """tf.data splits of a run, and the raw test batch (for the export's parity checks)."""

    train: object
    validation: object
    test: object
    test_batch: dict
    test_labels: np.ndarray
    class_names: list
    counts: dict
    reference: tuple = None  # (label ids, probabilities) of the Keras model on the test batch
    extra_tests: dict = dataclasses.field(default_factory=dict)  # split -> (tf.data, labels)


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


def split_indices(splits, label_fraction=1.0, max_train_examples=None, max_test_examples=None, seed=0,
                  split_seed=0):
    """The examples a run uses, as indices into each split of `splits`: {"pool", "train",
    "validation", "test"}. `train` is the stratified `label_fraction` of the training pool (the
    training split capped at `max_train_examples`); validation and test are capped at
    `max_test_examples`. Every run on these splits with these settings (pretrained, scratch,
    the classical baselines) uses exactly these examples. The caps (the training pool, the
    validation and test examples) are drawn with `split_seed`, the label subset with `seed`:
    every seed of a comparison trains from one pool and is scored on the same examples. Extra
    test splits (`extra_test_splits`)
    are capped like the test split."""
    from mmpretrain.data.label_fractions import stratified_subset

    labels = np.asarray(splits.labels("train"))
    pool = stratified_subset(labels, 1.0, limit=max_train_examples, seed=split_seed)
    indices = {"pool": pool, "train": pool[stratified_subset(labels[pool], label_fraction, seed=seed)]}
    for name in ("validation", "test", *extra_test_splits(splits)):
        indices[name] = stratified_subset(splits.labels(name), 1.0, max_test_examples, split_seed)
    return indices


def extra_test_splits(splits):
    """Test splits beyond "test" (e.g. "test_amazon": another domain, "test_flite": a
    synthesizer never heard in fine-tuning): scored too, never trained or selected on."""
    return [name for name in splits.split_names if name.startswith("test_") and len(splits.inputs(name))]


def subset_digest(indices):
    """A short fingerprint of a set of example indices (the same subset <=> the same digest)."""
    import hashlib

    return hashlib.sha1(np.sort(np.asarray(indices, np.int64)).tobytes()).hexdigest()[:16]


def labeled_data(splits, settings):
    """A labeled `DataSplits` -> `LabeledData`: the stratified label fraction of the (capped)
    training pool, shuffled every epoch (seeded); capped validation and test splits."""
    from mmpretrain.data.labeled import labeled_dataset, raw_batch, take
    from mmpretrain.modalities.augmentations import compose
    from mmpretrain.modalities.registry import get_modality

    s = settings
    _check_splits(s.app, splits, s.modality)
    train_labels = np.asarray(splits.labels("train"))
    indices = split_indices(splits, s.label_fraction, s.max_train_examples, s.max_test_examples, s.seed,
                            s.split_seed)
    pool, train_idx = indices["pool"], indices["train"]

    def part(split, indices):
        batch = raw_batch(s.modality, take(splits.inputs(split), indices), s.encoder_config)
        return batch, np.asarray(splits.labels(split))[indices]

    x_train, y_train = part("train", train_idx)
    x_val, y_val = part("validation", indices["validation"])
    x_test, y_test = part("test", indices["test"])
    extra_tests = {}
    for name in extra_test_splits(splits):
        x_extra, y_extra = part(name, indices[name])
        extra_tests[name] = (labeled_dataset(x_extra, batch_size=s.batch_size), y_extra)
    s.log(f"{s.app} [{s.tag}]: {len(y_train)} training examples ({s.label_fraction:.0%} of {len(pool)}), "
          f"{len(y_val)} validation, {len(y_test)} test, {len(splits.class_names)} classes; encoder {s.encoder_dir}")
    return LabeledData(
        train=labeled_dataset(x_train, y_train, s.batch_size, shuffle_seed=s.seed,
                              augment=compose(get_modality(s.modality).augmentations, s.augment, s.modality)),
        validation=labeled_dataset(x_val, y_val, s.batch_size),
        test=labeled_dataset(x_test, batch_size=s.batch_size),
        test_batch=x_test, test_labels=y_test, class_names=[str(c) for c in splits.class_names],
        extra_tests=extra_tests,
        counts={"train_examples": int(len(y_train)), "train_subset": subset_digest(train_idx),
                "train_pool_examples": int(len(pool)),
                "train_available_examples": int(len(train_labels)), "validation_examples": int(len(y_val)),
                "test_examples": int(len(y_test))},
    )


def learning_rate(settings, labeled):
    """The optimizer's learning rate: `settings.learning_rate` ("constant"), or a schedule
    ("cosine": linear warmup from 0 over `WARMUP_SHARE` of the run's steps, then cosine decay
    to 0 at the last step, as BERT-style fine-tuning recipes do)."""
    import keras

    s = settings
    if s.schedule == "constant":
        return s.learning_rate
    steps = s.epochs * math.ceil(labeled.counts["train_examples"] / s.batch_size)
    warmup = max(1, int(WARMUP_SHARE * steps))
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps - warmup), alpha=0.0, warmup_target=s.learning_rate, warmup_steps=warmup)


def restore_best_validation():
    """A callback that keeps the weights of the epoch with the lowest validation loss and
    restores them when `fit` ends (fine-tuning on few labels overfits within a few epochs).
    Epochs without a validation pass (`validation_freq`) are ignored. It also times `fit`."""
    import keras

    class RestoreBestValidation(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best, self.best_epoch, self.weights = float("inf"), None, None
            self.started, self.seconds = time.perf_counter(), None

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss")
            if loss is not None and loss < self.best:
                self.best, self.best_epoch, self.weights = loss, epoch + 1, self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)
            self.seconds = time.perf_counter() - self.started

    return RestoreBestValidation()


def evaluate(model, labeled, history, best, settings):
    """Test-split scores of the fitted `model` -> the metrics dict; writes report.png."""
    import keras

    from apps.common.reports import classification_scores, write_report_png
    from mmpretrain.export.task_export import task_name

    s, k = settings, len(labeled.class_names)
    history = {key: [float(v) for v in values] for key, values in history.history.items()}
    history["validation_epochs"] = [e for e in range(1, s.epochs + 1) if e % s.validation_freq == 0]
    history["best_validation_epoch"] = best.best_epoch  # the weights evaluated and exported
    validation_accuracy = None
    if best.best_epoch in history["validation_epochs"] and history.get("val_accuracy"):
        validation_accuracy = history["val_accuracy"][history["validation_epochs"].index(best.best_epoch)]
    probabilities = np.asarray(keras.ops.softmax(model.predict(labeled.test, verbose=0), axis=-1))
    predictions = probabilities.argmax(axis=-1)
    labeled.reference = (predictions.astype(np.int32), probabilities)
    scores = classification_scores(labeled.test_labels, predictions, k)
    s.log(f"{s.app} [{s.tag}]: test accuracy {scores['accuracy']:.4f} (majority class "
          f"{scores['majority_baseline']:.4f}), macro F1 {scores['macro_f1']:.4f}; fit {best.seconds:.1f}s")
    generalization = {}
    for name, (dataset, labels) in labeled.extra_tests.items():
        predicted = np.asarray(model.predict(dataset, verbose=0)).argmax(axis=-1)
        generalization[name] = shifted_scores(labels, predicted, k)
        s.log(f"{s.app} [{s.tag}]: {name} accuracy {generalization[name]['accuracy']:.4f}, balanced accuracy "
              f"{generalization[name]['balanced_accuracy']:.4f} ({len(labels)} examples)")
    metrics = {
        "app": s.app, "task": task_name(s.modality), "modality": s.modality, "data": s.data_name,
        "encoder": os.path.abspath(s.encoder_dir), "initialization": "scratch" if s.from_scratch else "pretrained",
        "freeze": s.freeze, "label_fraction": s.label_fraction, "tag": s.tag, "class_names": labeled.class_names,
        **labeled.counts, "epochs": s.epochs, "batch_size": s.batch_size, "learning_rate": s.learning_rate, "schedule": s.schedule,
        "seed": s.seed, "split_seed": s.split_seed, "augment": list(s.augment), "test_accuracy": scores["accuracy"], "test_macro_f1": scores["macro_f1"],
        "majority_baseline": scores["majority_baseline"],
        "validation_accuracy": validation_accuracy,  # of the kept epoch: what recipes are chosen by
        "per_class_recall": dict(zip(labeled.class_names, scores["per_class_recall"])),
        "confusion_matrix": scores["confusion_matrix"], "generalization": generalization, "history": history,
        "train_seconds": round(best.seconds, 2), "command": s.command,
    }
    report_dir = s.report_dir or os.path.join("runs", "apps", s.app, data_slug(s.data_name), s.tag)
    os.makedirs(report_dir, exist_ok=True)
    png = os.path.join(report_dir, "report.png")
    title = (f"{s.app} on {s.data_name} - {metrics['initialization']}{' (frozen)' if s.freeze else ''}, "
             f"{s.label_fraction:.0%} of labels ({labeled.counts['train_examples']}) - test accuracy "
             f"{scores['accuracy']:.3f}")
    write_report_png(png, history, scores["confusion_matrix"], labeled.class_names, title)
    metrics["report_png"] = png
    metrics["metrics_json"] = os.path.join(report_dir, "metrics.json")
    return metrics


def shifted_scores(labels, predicted, num_classes):
    """Accuracy and balanced accuracy (the mean per-class recall over the classes present: a
    shifted domain's class balance differs) of `predicted` against `labels`."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    present = np.unique(labels)
    recalls = [float(np.mean(predicted[labels == c] == c)) for c in present]
    return {"accuracy": float(np.mean(predicted == labels)) if len(labels) else None,
            "balanced_accuracy": float(np.mean(recalls)) if recalls else None, "examples": int(len(labels))}


def export(model, labeled, metrics, settings):
    """saved_models/NAME/VERSION (raw input -> label, score) + TFLite, with parity checks on the
    test split against the Keras model (`mmpretrain.export.task_export`)."""
    from mmpretrain.export.model_dirs import models_root
    from mmpretrain.export.task_export import export_classifier

    s, started = settings, time.perf_counter()
    export_classifier(
        model, model.encoder, model.head, s.name, s.modality, labeled.class_names, s.encoder_dir,
        s.encoder_config, s.output or models_root(), labeled.test_batch, labeled.reference, metrics,
        metrics["report_png"], tflite=s.tflite, log=s.log,
    )
    metrics["export_seconds"] = round(time.perf_counter() - started, 2)
    parity = metrics["export"]["parity"]
    line = f"SavedModel labels agree {parity['saved_model']['label_agreement']:.4f}"
    for q, r in parity.get("tflite", {}).items():
        line += f", TFLite {q} {r['label_agreement']:.4f} ({r['bytes'] / 1e6:.2f} MB)"
    s.log(f"{s.app} [{s.tag}]: {line} with the Keras model on {len(labeled.test_labels)} test examples")
    return metrics["export"]


def finish(metrics, settings):
    """Writes metrics.json (the run's total seconds included); returns `metrics`."""
    from mmpretrain.atomic_files import atomic_write_json

    metrics["seconds"] = round(time.perf_counter() - settings.started, 2)
    if settings.adaptation:
        metrics["adaptation"] = settings.adaptation
    atomic_write_json(metrics["metrics_json"], metrics)
    settings.log(f"{settings.app} [{settings.tag}]: metrics {metrics['metrics_json']}, plot {metrics['report_png']}")
    return metrics
