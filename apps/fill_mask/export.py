"""Fill-mask: export the pretrained MLM head as an app (strings with [MASK] -> top-k tokens).

    python apps/fill_mask/export.py                       # the run behind saved_models/mmpretrain_tiny
    python apps/fill_mask/export.py --run runs/demo --top-k 20
    python apps/fill_mask/export.py --from-scratch --no-export   # the untrained head, as a baseline

Measures held-out accuracy first (one wordpiece of each of 500 sentences from the text corpus's
test split replaced by [MASK]: top-1/top-5 recovery), then exports saved_models/fill_mask/VERSION
(serving_default: text -> token_ids, tokens, scores, mask_count) and its TFLite files, checking
that both give the Keras model's top tokens. `mmpretrain.pipeline("fill-mask")` uses it. The
model is `mmpretrain.tasks.FillMask`. See apps/fill_mask/README.md.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common import cli  # noqa: E402

APP, MODALITY = "fill_mask", "text"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/fill_mask/export.py",
        description="Export the pretraining run's MLM head as a fill-mask SavedModel + TFLite, after "
                    "measuring its held-out masked-token accuracy.")
    parser.add_argument("--run", default=None,
                        help="the pretraining run directory (default: the run the --encoder was exported from)")
    cli.add_encoder_argument(parser)
    parser.add_argument("--top-k", type=int, default=20, help="candidates the model returns (default 20)")
    parser.add_argument("--from-scratch", action="store_true", help="a freshly initialised head and encoder")
    parser.add_argument("--eval-examples", type=int, default=500, help="held-out sentences to score (default 500)")
    parser.add_argument("--output", default=None, help="base directory of the exports (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="measure only")
    parser.add_argument("--no-tflite", action="store_true", help="export the SavedModel without TFLite files")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def heldout_texts(run, count=500, seed=0):
    """Sentences of the text corpus's test split (never seen in pretraining), as pretraining chunks them."""
    from mmpretrain import data
    from mmpretrain.training.pretraining_data import text_chunks

    corpus = data.load_text_corpus(seed=run.config.get("seed", 0))
    chunks = text_chunks(corpus.inputs("test"), max(8, int(run.preprocessors[MODALITY].sequence_length * 0.6)))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(chunks), size=min(count, len(chunks)), replace=False)
    return [chunks[i] for i in sorted(picked)]


def heldout_accuracy(fill, texts, seed=0, batch_size=64):
    """Top-1/top-5 accuracy of recovering one masked wordpiece per text (seeded choice)."""
    import tensorflow as tf

    from mmpretrain.modalities.text import MASK_ID, RESERVED_TOKENS

    features = fill.preprocessor(list(texts))
    ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
    rng = np.random.default_rng(seed)
    rows, positions = [], []
    for i in range(len(ids)):
        candidates = np.flatnonzero(mask[i] & (ids[i] >= len(RESERVED_TOKENS)))
        if candidates.size:
            rows.append(i)
            positions.append(int(rng.choice(candidates)))
    if not rows:
        raise ValueError("No held-out text has a maskable wordpiece; pass longer sentences.")
    corrupted, positions = ids[rows].copy(), np.asarray(positions, np.int32)
    targets = corrupted[np.arange(len(rows)), positions].copy()
    corrupted[np.arange(len(rows)), positions] = MASK_ID
    top1 = top5 = 0
    for start in range(0, len(rows), batch_size):
        part = slice(start, start + batch_size)
        logits = fill.masked_logits(tf.constant(corrupted[part]), tf.constant(mask[rows][part]),
                                    tf.constant(positions[part])).numpy()
        best = np.argsort(-logits, axis=-1)[:, :5]
        top1 += int(np.sum(best[:, 0] == targets[part]))
        top5 += int(np.sum(np.any(best == targets[part][:, None], axis=-1)))
    counts = np.bincount(targets, minlength=fill.preprocessor.vocabulary_size)
    return {"examples": len(rows), "top1_accuracy": top1 / len(rows), "top5_accuracy": top5 / len(rows),
            "most_frequent_token_accuracy": float(counts.max() / len(rows)),
            "most_frequent_token": fill.preprocessor.vocabulary[int(counts.argmax())]}


def parity(fill, saved_model_dir, tflite_contents, texts):
    """Top-k ids of the reloaded SavedModel and the TFLite files vs the Keras model."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from mmpretrain.export.tflite_export import make_interpreter

    batch = tf.constant([t.encode("utf-8") for t in texts])
    want = {k: np.asarray(v) for k, v in fill(batch).items()}
    got = tf.saved_model.load(saved_model_dir).signatures["serving_default"](text=batch)
    report = {"saved_model": {"top1_agreement": float(np.mean(got["token_ids"].numpy()[:, 0] == want["token_ids"][:, 0])),
                              "max_abs_score_diff": float(np.abs(got["scores"].numpy() - want["scores"]).max()),
                              "examples": len(texts)}}
    for quantization, content in tflite_contents.items():
        out = make_interpreter(content).get_signature_runner("serving_default")(
            text=np.asarray([t.encode("utf-8") for t in texts], dtype=object))
        report[f"tflite_{quantization}"] = {
            "top1_agreement": float(np.mean(out["token_ids"][:, 0] == want["token_ids"][:, 0])),
            "max_abs_score_diff": float(np.abs(out["scores"] - want["scores"]).max()),
            "bytes": len(content), "examples": len(texts)}
    return report


def export_model(fill, run, output, top_k, metrics, texts, tflite=True, log=print):
    """Writes OUTPUT/fill_mask/VERSION (SavedModel, app.json, vocab.txt, TFLite, metrics)."""
    import tensorflow as tf

    from mmpretrain.export import serving_layout
    from mmpretrain.export.saved_model_writer import write_saved_model
    from mmpretrain.export.tflite_export import check_tflite_ops, convert
    from mmpretrain.modalities.text import MASK_TOKEN

    pre = fill.preprocessor
    config = {"format": "mmpretrain.app", "format_version": 1, "app": APP, "task": "fill-mask",
              "modality": MODALITY, "mask_token": MASK_TOKEN, "top_k": top_k, "signature": "serving_default",
              "outputs": ["token_ids", "tokens", "scores", "mask_count"], "sequence_length": pre.sequence_length,
              "vocabulary_size": pre.vocabulary_size, "run_dir": os.path.abspath(run.run_dir)}
    probe = [t if MASK_TOKEN in t else f"{t} {MASK_TOKEN}" for t in
             ["This is a great [MASK]!", "The [MASK] is on the table.", *texts[:30]]]
    model_dir = os.path.join(output, APP)
    with serving_layout.staging_dir(model_dir) as staging:
        staged = os.path.join(staging, "model")
        write_saved_model(staged, {"serving_default": (fill, tf.TensorSpec([None], tf.string, name="text"))},
                          assets={"app_file": ("app.json", json.dumps(config, indent=2, sort_keys=True)),
                                  "vocab_file": ("vocab.txt", "\n".join(pre.vocabulary) + "\n")})
        contents = {}
        if tflite:
            folder = os.path.join(staged, "assets.extra", "tflite")
            os.makedirs(folder, exist_ok=True)
            for quantization in ("float32", "int8"):
                contents[quantization] = convert(staged, "serving_default", quantization)
                check_tflite_ops(contents[quantization], f"{APP}_{quantization}")
                with open(os.path.join(folder, f"{APP}_{quantization}.tflite"), "wb") as f:
                    f.write(contents[quantization])
        checks = parity(fill, staged, contents, probe)
        version = serving_layout.next_version(model_dir)
        final = os.path.join(model_dir, str(version))
        metrics["export"] = {"saved_model": final, "version": version, "parity": checks,
                             "tflite": {q: os.path.join(final, "assets.extra", "tflite", f"{APP}_{q}.tflite")
                                        for q in contents}}
        os.makedirs(os.path.join(staged, "assets.extra"), exist_ok=True)
        with open(os.path.join(staged, "assets.extra", "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
        serving_layout.publish(staged, model_dir, version)
    log(f"fill_mask: published {final}; " + ", ".join(
        f"{k} top-1 agreement {v['top1_agreement']:.3f}" for k, v in checks.items()))
    return metrics["export"]


def run(run_dir=None, encoder=None, top_k=20, from_scratch=False, eval_examples=500, eval_texts=None,
        output=None, export=True, tflite=True, seed=0, verbose=1, log=None):
    """Evaluates and (unless export=False) exports; returns the metrics dict."""
    from mmpretrain.export.model_dirs import models_root
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks import FillMask
    from mmpretrain.tasks.fill_mask import run_dir_of_encoder

    log = log or (print if verbose else (lambda *a: None))
    started = time.perf_counter()
    if top_k < 1:
        raise ValueError(f"top_k must be a positive integer; received {top_k}.")

    # 1. Data: held-out sentences of the text corpus (or the caller's)
    run_dir = run_dir or run_dir_of_encoder(encoder)
    run = load_run(run_dir)
    texts = list(eval_texts) if eval_texts is not None else heldout_texts(run, count=eval_examples, seed=seed)

    # 2. Model: the run's backbone + its pretrained MLM head (or both freshly initialised)
    fill = FillMask.from_run(run, top_k=top_k, from_scratch=from_scratch, seed=seed, modality=MODALITY)

    # 3. Evaluation: recover one masked wordpiece per sentence
    scores = heldout_accuracy(fill, texts, seed=seed)
    init = "scratch" if from_scratch else "pretrained"
    log(f"fill_mask [{init}]: held-out top-1 {scores['top1_accuracy']:.4f}, top-5 {scores['top5_accuracy']:.4f} "
        f"on {scores['examples']} masked wordpieces (most frequent token "
        f"{scores['most_frequent_token']!r}: {scores['most_frequent_token_accuracy']:.4f})")
    metrics = {"app": APP, "task": "fill-mask", "run_dir": os.path.abspath(run_dir), "initialization": init,
               "top_k": top_k, **{f"heldout_{k}": v for k, v in scores.items()}}

    # 4. Export saved_models/fill_mask/VERSION + TFLite, checked against the Keras model
    if export:
        export_model(fill, run, output or models_root(), top_k, metrics, texts, tflite, log)
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    return metrics


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        metrics = run(args.run, args.encoder, args.top_k, args.from_scratch, args.eval_examples, output=args.output,
                      export=not args.no_export, tflite=not args.no_tflite, seed=args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {k: metrics[k] for k in ("heldout_top1_accuracy", "heldout_top5_accuracy",
                                       "heldout_most_frequent_token_accuracy")}
    if "export" in metrics:
        summary["saved_model"] = metrics["export"]["saved_model"]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
