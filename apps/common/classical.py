"""Classical baselines (scikit-learn) on EXACTLY the examples a neural run of the app uses.

    from apps.common.classical import classical_baseline
    result = classical_baseline(splits, "text", label_fraction=0.1, seed=0)
    result["test_accuracy"]      # None when it cannot be computed; result["reason"] says why

The examples are `training.split_indices` of the same splits, label fraction, caps and seed as
`training.labeled_data` (the stratified subset the pretrained and scratch runs train on, the
same capped validation and test examples); `train_subset` is the fingerprint both record.
One feature function per modality (`FEATURES`), each fitted on the training subset only:

- text   TF-IDF of word 1- and 2-grams (sublinear tf)
- image  the pixels / 255 (images as the encoder sees them: its size and channels)
- audio  log-mel statistics: per mel band, the mean and std over time of the dB log-mel (the
         project's `log_mel_spectrogram`, 64 bands) and of its deltas, standardised

then a logistic regression (lbfgs, at most `MAX_ITER` iterations) whose C is picked from `C_GRID`
by accuracy on the VALIDATION split (on a stratified subsample of the training examples beyond
`SEARCH_ABOVE`, then refitted on all); the test split is scored once, with that C. Seconds
per fit on 2 cores (Fashion-MNIST at the image app's 4000-example pool: ~2 s).
"""

import time
import warnings

import numpy as np

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
MAX_ITER = 200  # lbfgs iterations per fit: bounded time (Fashion-MNIST pixels do not fully converge)
# Above SEARCH_ABOVE training examples, C is searched on a stratified subsample of SEARCH_EXAMPLES
# of them (then refitted on all): Fashion-MNIST uncapped, 54k x 784, in ~1 minute, not ~3.
SEARCH_ABOVE, SEARCH_EXAMPLES = 10000, 5000


# === Features: (training inputs, other inputs...) -> (X_train, [X_other, ...]), fitted on train ===


def text_features(train, *others, info=None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    return vectorizer.fit_transform(list(train)), [vectorizer.transform(list(o)) for o in others]


def _pixels(images):
    images = np.asarray(images)
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def image_features(train, *others, info=None):
    return _pixels(train), [_pixels(o) for o in others]


def log_mel_statistics(clips, max_seconds=None, batch_size=128):
    """float32 [N, 4 * 64]: per mel band, mean and std over time of the dB log-mel and of its
    deltas (librosa.feature.delta, 9 frames), over each clip's own frames (cut to `max_seconds`,
    as the encoder cuts them)."""
    import librosa

    from mmpretrain.modalities.audio_features import log_mel_spectrogram
    from mmpretrain.modalities.audio_io import SAMPLE_RATE

    hop = 160  # log_mel_spectrogram's default hop_length
    limit = int(round(float(max_seconds) * SAMPLE_RATE)) if max_seconds else None
    clips = [np.asarray(c, np.float32).reshape(-1)[:limit] for c in clips]
    rows = []
    for start in range(0, len(clips), batch_size):
        chunk = clips[start:start + batch_size]
        lengths = np.array([max(len(c), 1) for c in chunk], np.int32)
        padded = np.zeros([len(chunk), lengths.max()], np.float32)
        for i, clip in enumerate(chunk):
            padded[i, :len(clip)] = clip
        db = log_mel_spectrogram(padded, lengths=lengths).numpy()
        for i, n in enumerate(lengths):
            frames = db[i, :1 + n // hop]  # [frames, mels]: this clip's frames only
            delta = librosa.feature.delta(frames, width=9, axis=0, mode="nearest")
            rows.append(np.concatenate([frames.mean(0), frames.std(0), delta.mean(0), delta.std(0)]))
    return np.stack(rows).astype(np.float32)


def audio_features(train, *others, info=None):
    from sklearn.preprocessing import StandardScaler

    seconds = (info or {}).get("max_audio_seconds")
    scaler = StandardScaler()
    x_train = scaler.fit_transform(log_mel_statistics(train, seconds))
    return x_train, [scaler.transform(log_mel_statistics(o, seconds)) for o in others]


FEATURES = {"text": text_features, "image": image_features, "audio": audio_features}
METHODS = {
    "text": "TF-IDF word 1-2-grams + logistic regression",
    "image": "pixels/255 + logistic regression",
    "audio": "log-mel mean/std + deltas + logistic regression",
}


# === The baseline ===


def fit_and_score(x_train, y_train, x_validation, y_validation, x_test, y_test, c_grid=C_GRID, max_iter=MAX_ITER,
                  search_above=SEARCH_ABOVE, search_examples=SEARCH_EXAMPLES, seed=0, extra=None):
    """Logistic regression (lbfgs) at every C of `c_grid`, scored on validation; the best C (the
    smallest among ties) is scored on test. With more than `search_above` training examples the
    C search fits a stratified subsample of `search_examples` of them, and the best C is then
    refitted on all.
    `extra`: {split: (x, y)} more test splits, scored with the same model.
    -> (C, validation accuracy per C, test accuracy, examples the search fitted, {split: scores})."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from apps.common.training import shifted_scores
    from mmpretrain.data.label_fractions import stratified_subset

    y_train = np.asarray(y_train)
    search = np.arange(len(y_train))
    if search_above and len(y_train) > search_above:
        search = stratified_subset(y_train, search_examples / len(y_train), seed=seed)

    def fit(c, rows):
        return LogisticRegression(C=c, max_iter=max_iter).fit(x_train[rows], y_train[rows])

    best, scores = None, {}
    # One BLAS thread: these matmuls are small, and 2 threads on 2 busy cores were measured 15x slower.
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for c in c_grid:
            model = fit(c, search)
            scores[c] = float(model.score(x_validation, y_validation))
            if best is None or scores[c] > scores[best[0]]:
                best = (c, model)
        c, model = best
        if len(search) < len(y_train):
            model = fit(c, np.arange(len(y_train)))
        shifted = {name: shifted_scores(y, model.predict(x), len(model.classes_)) for name, (x, y) in (extra or {}).items()}
        return c, scores, float(model.score(x_test, y_test)), int(len(search)), shifted


def classical_baseline(splits, modality, label_fraction=1.0, max_train_examples=None, max_test_examples=None,
                       seed=0, info=None, c_grid=C_GRID, split_seed=0):
    """The classical baseline of `modality` on the run's examples (`training.split_indices`).

    Returns a dict: method, test_accuracy (None if it cannot be computed), reason (why not, or
    None), C, validation_accuracy (of that C), validation_by_C, train_examples, train_subset
    (the fingerprint the neural run's metrics hold too), validation/test_examples, seconds.
    `info`: the encoder's config.json (audio: max_audio_seconds).
    """
    from apps.common.training import extra_test_splits, split_indices, subset_digest
    from mmpretrain.data.labeled import take

    started = time.perf_counter()
    indices = split_indices(splits, label_fraction, max_train_examples, max_test_examples, seed, split_seed)
    labels = {name: np.asarray(splits.labels(name))[indices[name]] for name in ("train", "validation", "test")}
    result = {
        "method": METHODS.get(modality, f"none for {modality}"), "test_accuracy": None, "reason": None,
        "C": None, "validation_accuracy": None, "validation_by_C": None, "label_fraction": float(label_fraction),
        "seed": int(seed), "train_examples": int(len(indices["train"])), "train_subset": subset_digest(indices["train"]),
        "validation_examples": int(len(indices["validation"])), "test_examples": int(len(indices["test"])),
        "majority_baseline": _majority(labels["test"]), "search_examples": None, "seconds": None,
    }
    classes = np.unique(labels["train"])
    if modality not in FEATURES:
        result["reason"] = f"no classical baseline for {modality!r} data (there are: {sorted(FEATURES)})"
    elif len(classes) < 2:
        result["reason"] = (f"the training subset has {len(labels['train'])} example(s) of "
                            f"{len(classes)} class(es): a classifier needs two classes")
    elif not len(labels["validation"]) or not len(labels["test"]):
        result["reason"] = "no validation or no test examples: C cannot be picked or scored"
    else:
        try:
            extra_names = extra_test_splits(splits)
            names = ("train", "validation", "test", *extra_names)
            inputs = {name: take(splits.inputs(name), indices[name]) for name in names}
            x_train, (x_validation, x_test, *x_extra) = FEATURES[modality](
                inputs["train"], inputs["validation"], inputs["test"], *(inputs[n] for n in extra_names), info=info)
            extra = {n: (x, np.asarray(splits.labels(n))[indices[n]]) for n, x in zip(extra_names, x_extra)}
            c, scores, accuracy, searched, shifted = fit_and_score(
                x_train, labels["train"], x_validation, labels["validation"], x_test, labels["test"], c_grid,
                seed=seed, extra=extra)
            result.update(test_accuracy=accuracy, C=c, validation_accuracy=scores[c], search_examples=searched,
                          validation_by_C={str(k): v for k, v in scores.items()}, generalization=shifted)
        except ValueError as err:  # e.g. an empty TF-IDF vocabulary
            result["reason"] = f"could not be fitted: {err}"
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _majority(labels):
    """The test accuracy of always answering the most frequent class (None without examples)."""
    if not len(labels):
        return None
    return float(np.unique(labels, return_counts=True)[1].max() / len(labels))


def cell(result):
    """The table cell of a baseline: its test accuracy, or why there is none."""
    if result is None:
        return "n/a"
    if result.get("test_accuracy") is None:
        return f"n/a ({result.get('reason')})"
    return f"{result['test_accuracy']:.4f}"
