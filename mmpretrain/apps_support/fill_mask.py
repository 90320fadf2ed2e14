"""Fill-mask: the pretrained MLM head's top-k tokens for "[MASK]", exported like an app.

    run_dir = run_dir_of_encoder("saved_models/mmpretrain_tiny")    # from its export report
    metrics = export_fill_mask(run_dir, output="saved_models")        # saved_models/fill_mask/V

The MLM head is not part of the encoder SavedModel, so this app reads the pretraining run
(`backbone.keras` + `pretrainer.weights.h5`, the head's output projection tied to the token
embedding). The exported signature takes raw strings with one literal "[MASK]" each:

    text [B] string -> token_ids int32 [B, K], tokens string [B, K], scores float32 [B, K],
                       mask_count int32 [B]

"[MASK]" reaches the graph as ordinary text; WordPiece splits it into pieces ("[", "mask",
"]"). `substitute_mask` finds that id pattern in the dense ids and replaces it with the [MASK]
id, shifting the rest left, with dense ops only, so the same graph converts to TFLite (builtins
+ tf.text kernels). The prediction is read at the first [MASK]; `mask_count` lets the caller
refuse inputs with none or several. Special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are never
predicted.

Held-out accuracy (`evaluate`): one random wordpiece of each held-out sentence is replaced by
[MASK] (seeded); top-1 and top-5 accuracy of recovering it, for the pretrained head and for the
same architecture freshly initialised (`from_scratch`), next to the most-frequent-token baseline.
"""

import json
import os
import time

import numpy as np

from mmpretrain.modalities.text import MASK_ID, MASK_TOKEN, RESERVED_TOKENS

APP = "fill_mask"
DEFAULT_TOP_K = 20


def run_dir_of_encoder(encoder=None):
    """The pretraining run an exported encoder came from (assets.extra/export_report.json)."""
    from mmpretrain.apps_support.models import resolve_encoder

    encoder_dir, _ = resolve_encoder(encoder)
    path = os.path.join(encoder_dir, "assets.extra", "export_report.json")
    run_dir = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            run_dir = json.load(f).get("run_dir")
    if not run_dir or not os.path.isdir(run_dir):
        raise ValueError(
            f"The encoder {encoder_dir!r} does not name an existing pretraining run "
            f"(export report: {run_dir!r}); the MLM head lives in the run directory. Pass it with "
            "--run RUN_DIR (the directory `mmpretrain pretrain --run-dir` wrote)."
        )
    return run_dir


def load_masked_lm(run_dir, from_scratch=False, seed=0):
    """(LoadedRun, MLM head) of a finished run; `from_scratch` re-initialises both, seeded."""
    import keras

    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer

    run = load_run(run_dir)
    if "text" not in run.preprocessors:
        raise ValueError(
            f"The fill_mask app needs a run pretrained on text; {run_dir!r} has {list(run.modalities)}. "
            "Pretrain with text in the mix (e.g. `mmpretrain pretrain --config tiny`)."
        )
    decoder = dict(decoder_dim=run.config.get("decoder_dim", 64), decoder_layers=run.config.get("decoder_layers", 1))
    if from_scratch:
        from mmpretrain.backbone import MultimodalBackbone

        keras.utils.set_random_seed(int(seed))
        run.backbone = MultimodalBackbone.from_config(run.backbone.get_config())
        return run, MaskedPretrainer(run.backbone, **decoder).heads["text"]
    weights = os.path.join(run_dir, "pretrainer.weights.h5")
    if not os.path.isfile(weights):
        raise ValueError(
            f"{run_dir!r} has no pretrainer.weights.h5 (the MLM head's weights, written when "
            "pretraining finishes); finish the run with `mmpretrain pretrain --run-dir "
            f"{run_dir} ...` or pass another run."
        )
    pretrainer = MaskedPretrainer(run.backbone, **decoder)
    try:
        pretrainer.load_weights(weights)
    except Exception as err:  # h5py and Keras raise several types for a damaged/mismatched file
        raise ValueError(
            f"Could not load {weights!r} into the run's pretrainer ({type(err).__name__}: "
            f"{str(err)[:200]}); the file is damaged or belongs to another run."
        ) from None
    return run, pretrainer.heads["text"]


def mask_pattern(preprocessor):
    """The ids WordPiece gives the literal text "[MASK]" (without [CLS]/[SEP])."""
    features = preprocessor([MASK_TOKEN])
    ids = features["token_ids"].numpy()[0][features["padding_mask"].numpy()[0]]
    return [int(i) for i in ids[1:-1]]


def substitute_mask(token_ids, padding_mask, pattern, length):
    """Replaces each occurrence of the id `pattern` by one [MASK] id (dense ops only).

    token_ids: int32 [B, L]; padding_mask: bool [B, L] -> (token_ids, padding_mask), [B, L].
    """
    import tensorflow as tf

    k = len(pattern)
    ids = tf.cast(token_ids, tf.int32)
    padded = tf.pad(ids, [[0, 0], [0, k - 1]])  # [B, L + k - 1]
    match = tf.ones_like(ids, tf.bool)
    for j, piece in enumerate(pattern):
        match = tf.logical_and(match, tf.equal(padded[:, j : j + length], piece))  # [B, L]
    ids = tf.where(match, tf.constant(MASK_ID, tf.int32), ids)
    if k == 1:
        return ids, padding_mask
    shifted = tf.pad(match, [[0, 0], [k - 1, 0]])  # [B, L + k - 1]: match[i - (k - 1)] at i
    drop = tf.zeros_like(match)
    for j in range(1, k):  # the k - 1 pieces after each match go
        drop = tf.logical_or(drop, shifted[:, k - 1 - j : k - 1 - j + length])
    keep = tf.logical_not(drop)  # [B, L]
    destination = tf.cumsum(tf.cast(keep, tf.int32), axis=1) - 1  # [B, L]
    moves = tf.logical_and(
        tf.equal(destination[:, :, tf.newaxis], tf.range(length)[tf.newaxis, tf.newaxis, :]),
        keep[:, :, tf.newaxis],
    )  # [B, L source, L destination]
    new_ids = tf.reduce_sum(tf.cast(moves, tf.int32) * ids[:, :, tf.newaxis], axis=1)  # [B, L]
    new_mask = tf.reduce_any(tf.logical_and(moves, tf.cast(padding_mask, tf.bool)[:, :, tf.newaxis]), axis=1)
    return new_ids, new_mask


def _masked_logits(backbone, head, token_ids, padding_mask, positions):
    """Logits [B, V] at `positions` [B], special tokens excluded."""
    import tensorflow as tf

    outputs = backbone({"token_ids": token_ids, "padding_mask": padding_mask,
                        "segment_ids": tf.zeros_like(token_ids)}, modality="text", training=False)
    logits = head(outputs["sequence_output"], positions[:, tf.newaxis])[:, 0, :]  # [B, V]
    special = tf.one_hot(tf.range(len(RESERVED_TOKENS)), tf.shape(logits)[-1])  # [5, V]
    return logits - 1e9 * tf.reduce_sum(special, axis=0)[tf.newaxis, :]


def fill_mask_function(backbone, head, preprocessor, top_k=DEFAULT_TOP_K):
    """fn(text [B]) -> {token_ids, tokens, scores, mask_count}; traced by the SavedModel writer."""
    import tensorflow as tf

    pattern = mask_pattern(preprocessor)
    length = preprocessor.sequence_length
    vocabulary = tf.constant(preprocessor.vocabulary)
    top_k = int(min(top_k, preprocessor.vocabulary_size - len(RESERVED_TOKENS)))

    def fill(text):
        features = preprocessor(text)
        ids, mask = substitute_mask(features["token_ids"], features["padding_mask"], pattern, length)
        is_mask = tf.cast(tf.equal(ids, MASK_ID), tf.int32)  # [B, L]
        position = tf.cast(tf.argmax(is_mask, axis=-1), tf.int32)  # [B]: the first [MASK]
        logits = _masked_logits(backbone, head, ids, mask, position)
        scores, token_ids = tf.math.top_k(tf.nn.softmax(logits, axis=-1), k=top_k)  # [B, K]
        return {"token_ids": token_ids, "tokens": tf.gather(vocabulary, token_ids), "scores": scores,
                "mask_count": tf.reduce_sum(is_mask, axis=-1)}

    return fill


# === Held-out accuracy ===


def heldout_texts(run, count=500, seed=0):
    """Sentences of the text corpus's test split (never seen in pretraining), as pretraining chunks them."""
    from mmpretrain import data
    from mmpretrain.training.pretraining_data import text_chunks

    corpus = data.load_text_corpus(seed=run.config.get("seed", 0))
    chunks = text_chunks(corpus.inputs("test"), max(8, int(run.preprocessors["text"].sequence_length * 0.6)))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(chunks), size=min(count, len(chunks)), replace=False)
    return [chunks[i] for i in sorted(picked)]


def evaluate(run, head, texts, seed=0, batch_size=64):
    """Top-1/top-5 accuracy of recovering one masked wordpiece per text (seeded choice)."""
    import tensorflow as tf

    preprocessor = run.preprocessors["text"]
    features = preprocessor(list(texts))
    ids = features["token_ids"].numpy()
    mask = features["padding_mask"].numpy()
    rng = np.random.default_rng(seed)
    rows, positions, targets = [], [], []
    for i in range(len(ids)):
        candidates = np.flatnonzero(mask[i] & (ids[i] >= len(RESERVED_TOKENS)))
        if candidates.size:
            rows.append(i)
            positions.append(int(rng.choice(candidates)))
    if not rows:
        raise ValueError("No held-out text has a maskable wordpiece; pass longer sentences.")
    corrupted = ids[rows].copy()
    for j, position in enumerate(positions):
        targets.append(corrupted[j, position])
        corrupted[j, position] = MASK_ID
    targets, positions = np.asarray(targets), np.asarray(positions, np.int32)
    top1 = top5 = 0
    for start in range(0, len(rows), batch_size):
        part = slice(start, start + batch_size)
        logits = _masked_logits(run.backbone, head, tf.constant(corrupted[part]), tf.constant(mask[rows][part]),
                                tf.constant(positions[part])).numpy()
        best = np.argsort(-logits, axis=-1)[:, :5]
        top1 += int(np.sum(best[:, 0] == targets[part]))
        top5 += int(np.sum(np.any(best == targets[part][:, None], axis=-1)))
    counts = np.bincount(targets, minlength=preprocessor.vocabulary_size)
    return {"examples": int(len(rows)), "top1_accuracy": top1 / len(rows), "top5_accuracy": top5 / len(rows),
            "most_frequent_token_accuracy": float(counts.max() / len(rows)),
            "most_frequent_token": preprocessor.vocabulary[int(counts.argmax())]}


# === Export ===


def _app_json(run, top_k):
    pre = run.preprocessors["text"]
    return {"format": "mmpretrain.app", "format_version": 1, "app": APP, "task": "fill-mask",
            "modality": "text", "mask_token": MASK_TOKEN, "top_k": top_k, "signature": "serving_default",
            "outputs": ["token_ids", "tokens", "scores", "mask_count"], "sequence_length": pre.sequence_length,
            "vocabulary_size": pre.vocabulary_size, "run_dir": os.path.abspath(run.run_dir)}


def _parity(fill, saved_model_dir, tflite_contents, texts):
    """Top-k ids of the reloaded SavedModel and the TFLite files vs the eager function."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from mmpretrain.export.tflite_export import make_interpreter

    batch = tf.constant([t.encode("utf-8") for t in texts])
    want = fill(batch)
    got = tf.saved_model.load(saved_model_dir).signatures["serving_default"](text=batch)
    report = {"saved_model": {
        "top1_agreement": float(np.mean(got["token_ids"].numpy()[:, 0] == want["token_ids"].numpy()[:, 0])),
        "max_abs_score_diff": float(np.abs(got["scores"].numpy() - want["scores"].numpy()).max()),
        "examples": len(texts)}}
    for quantization, content in tflite_contents.items():
        out = make_interpreter(content).get_signature_runner("serving_default")(
            text=np.asarray([t.encode("utf-8") for t in texts], dtype=object))
        report[f"tflite_{quantization}"] = {
            "top1_agreement": float(np.mean(out["token_ids"][:, 0] == want["token_ids"].numpy()[:, 0])),
            "max_abs_score_diff": float(np.abs(out["scores"] - want["scores"].numpy()).max()),
            "bytes": len(content), "examples": len(texts)}
    return report


def export_fill_mask(run_dir, output, top_k=DEFAULT_TOP_K, from_scratch=False, eval_texts=None,
                     export=True, tflite=True, seed=0, log=print):
    """Evaluates and (unless export=False) exports the fill-mask model; returns the metrics dict.

    `eval_texts` default: 500 sentences of the text corpus's test split.
    """
    import tensorflow as tf

    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model

    started = time.perf_counter()
    run, head = load_masked_lm(run_dir, from_scratch=from_scratch, seed=seed)
    texts = list(eval_texts) if eval_texts is not None else heldout_texts(run, seed=seed)
    scores = evaluate(run, head, texts, seed=seed)
    init = "scratch" if from_scratch else "pretrained"
    log(f"fill_mask [{init}]: held-out top-1 {scores['top1_accuracy']:.4f}, top-5 {scores['top5_accuracy']:.4f} "
        f"on {scores['examples']} masked wordpieces (most frequent token "
        f"{scores['most_frequent_token']!r}: {scores['most_frequent_token_accuracy']:.4f})")
    metrics = {"app": APP, "task": "fill-mask", "run_dir": os.path.abspath(run_dir), "initialization": init,
               "top_k": top_k, **{f"heldout_{k}": v for k, v in scores.items()}}
    if export:
        fill = fill_mask_function(run.backbone, head, run.preprocessors["text"], top_k)
        model_dir = os.path.join(output, APP)
        probe = [t if MASK_TOKEN in t else f"{t} {MASK_TOKEN}" for t in
                 ["This is a great [MASK]!", "The [MASK] is on the table.", *texts[:30]]]
        with serving_layout.staging_dir(model_dir) as staging:
            staged = os.path.join(staging, "model")
            config = _app_json(run, top_k)
            write_saved_model(staged, {"serving_default": (fill, tf.TensorSpec([None], tf.string, name="text"))},
                              assets={"app_file": ("app.json", json.dumps(config, indent=2, sort_keys=True)),
                                      "vocab_file": ("vocab.txt", "\n".join(run.preprocessors["text"].vocabulary) + "\n")})
            contents = {}
            if tflite:
                from mmpretrain.export.tflite_export import check_tflite_ops, convert

                folder = os.path.join(staged, "assets.extra", "tflite")
                os.makedirs(folder, exist_ok=True)
                for quantization in ("float32", "int8"):
                    contents[quantization] = convert(staged, "serving_default", quantization)
                    check_tflite_ops(contents[quantization], f"{APP}_{quantization}")
                    with open(os.path.join(folder, f"{APP}_{quantization}.tflite"), "wb") as f:
                        f.write(contents[quantization])
            parity = _parity(fill, staged, contents, probe)
            version = serving_layout.next_version(model_dir)
            final = os.path.join(model_dir, str(version))
            metrics["export"] = {"saved_model": final, "version": version, "parity": parity,
                                 "tflite": {q: os.path.join(final, "assets.extra", "tflite", f"{APP}_{q}.tflite")
                                            for q in contents}}
            os.makedirs(os.path.join(staged, "assets.extra"), exist_ok=True)
            with open(os.path.join(staged, "assets.extra", "metrics.json"), "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=2, sort_keys=True)
            serving_layout.publish(staged, model_dir, version)
        log(f"fill_mask: published {final}; " + ", ".join(
            f"{k} top-1 agreement {v['top1_agreement']:.3f}" for k, v in parity.items()))
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    return metrics
