"""Pretrained vs scratch at several label fractions, on the same splits: a table per app.

    from apps.common.compare import compare, format_table
    rows = compare("sentiment")                        # {pretrained, scratch} x {10%, 100%}
    print(format_table(rows))

The data is loaded once; every run uses the same (capped) training pool, the same stratified
10% subset, the same validation/test examples, epochs and learning rate; only the encoder's
starting weights (and the label fraction) change. Runs are not exported (the default app model
is the one `apps/APP/train.py` exports). The rows also go to runs/apps/APP/DATA/compare.{json,md}.

Apps: the three trainable apps (test accuracy after fine-tuning), text_embedding (k-NN test
accuracy with 10%/100% of the training labels as the index, no training) and fill_mask
(held-out top-1/top-5 of masked wordpieces; label fractions do not apply). Each runs its own
script's `run` (`apps.common.scripts`).
"""

import json
import os
import time

from apps.common.scripts import APPS, CLASSIFIER_APPS, load_script
from apps.common.training import data_slug, run_tag

__all__ = ["APPS", "CLASSIFIER_APPS", "compare", "format_table", "row"]


def compare(app, data=None, encoder=None, label_fractions=(0.1, 1.0), initializations=("pretrained", "scratch"),
            freeze=False, data_options=None, report_root=None, seed=0, verbose=1, **options):
    """Runs `app` for every initialization x label fraction; returns one dict per run.

    `options` go to the app script's `run`: epochs, max_train_examples, learning_rate, ... for
    the trainable apps, k, max_index, ... for text_embedding; fill_mask takes `run_dir` and
    `eval_texts`. `data_options` go to the script's data loader (e.g. keywords).
    """
    if app not in APPS:
        raise ValueError(f"Unknown app {app!r}; compare runs {list(APPS)}.")
    bad = [i for i in initializations if i not in ("pretrained", "scratch")]
    if bad or not initializations:
        raise ValueError(f"initializations must be 'pretrained' and/or 'scratch'; received {list(initializations)}.")
    script = load_script(app)
    default_data = script.DEFAULTS.data if app in CLASSIFIER_APPS else {"text_embedding": "vader"}.get(app, "corpus")
    data = data or default_data
    report_root = report_root or os.path.join("runs", "apps", app, data_slug(data))
    rows = []
    if app == "fill_mask":
        rows = _compare_fill_mask(script, encoder, initializations, seed, verbose, **options)
    elif app == "text_embedding":
        splits = script.load_corpus(data, seed=seed, **(data_options or {}))
        for init in initializations:
            for fraction in label_fractions:
                metrics = script.run(
                    encoder, corpus=data, queries=(), splits=splits, from_scratch=init == "scratch",
                    label_fraction=fraction, seed=seed, verbose=verbose,
                    report_dir=os.path.join(report_root, f"{init}-{round(100 * fraction):g}pct"), **options,
                )["metrics"]
                rows.append(row(app, metrics, init, fraction, "index_examples"))
    else:
        from mmpretrain.tasks import resolve_encoder

        encoder_dir, info = resolve_encoder(encoder, script.MODALITY, app)
        splits = script.load_data(data, info, seed=seed, **(data_options or {}))
        for init in initializations:
            for fraction in label_fractions:
                metrics = script.run(
                    data=data, encoder=encoder_dir, splits=splits, freeze=freeze, from_scratch=init == "scratch",
                    label_fraction=fraction, export=False, seed=seed, verbose=verbose,
                    report_dir=os.path.join(report_root, run_tag(init == "scratch", freeze, fraction)), **options,
                )
                rows.append(row(app, metrics, init, fraction, "train_examples"))
    _write(report_root, rows)
    return rows


def row(app, metrics, init, fraction, examples_key):
    return {
        "app": app, "data": metrics.get("data"), "initialization": init,
        "freeze": bool(metrics.get("freeze", False)), "label_fraction": fraction,
        "labeled_examples": metrics.get(examples_key), "test_examples": metrics.get("test_examples"),
        "test_accuracy": metrics["test_accuracy"], "test_macro_f1": metrics.get("test_macro_f1"),
        "majority_baseline": metrics.get("majority_baseline"), "seconds": metrics.get("seconds"),
        "metrics_json": metrics.get("metrics_json"),
    }


def _compare_fill_mask(script, encoder, initializations, seed, verbose, run_dir=None, eval_texts=None):
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.fill_mask import run_dir_of_encoder

    run_dir = run_dir or run_dir_of_encoder(encoder)
    if eval_texts is None:
        eval_texts = script.heldout_texts(load_run(run_dir), seed=seed)
    rows = []
    for init in initializations:
        started = time.perf_counter()
        metrics = script.run(run_dir=run_dir, from_scratch=init == "scratch", eval_texts=eval_texts, export=False,
                             seed=seed, verbose=verbose)
        rows.append({
            "app": "fill_mask", "data": "text corpus test split", "initialization": init, "freeze": False,
            "label_fraction": None, "labeled_examples": 0, "test_examples": metrics["heldout_examples"],
            "test_accuracy": metrics["heldout_top1_accuracy"], "top5_accuracy": metrics["heldout_top5_accuracy"],
            "test_macro_f1": None, "majority_baseline": metrics["heldout_most_frequent_token_accuracy"],
            "seconds": round(time.perf_counter() - started, 2), "metrics_json": None,
        })
    return rows


def format_table(rows):
    """A Markdown table of compare rows."""
    lines = ["| app | data | init | labels | labeled examples | test examples | test accuracy | baseline | seconds |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        labels = "n/a" if r["label_fraction"] is None else f"{r['label_fraction']:.0%}"
        accuracy = f"{r['test_accuracy']:.4f}"
        if r.get("top5_accuracy") is not None:
            accuracy += f" (top-5 {r['top5_accuracy']:.4f})"
        init = r["initialization"] + (" (frozen)" if r.get("freeze") else "")
        lines.append(f"| {r['app']} | {r['data']} | {init} | {labels} | {r['labeled_examples']} | "
                     f"{r['test_examples']} | {accuracy} | {r['majority_baseline']:.4f} | {r['seconds']} |")
    return "\n".join(lines)


def _write(report_root, rows):
    os.makedirs(report_root, exist_ok=True)
    with open(os.path.join(report_root, "compare.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    with open(os.path.join(report_root, "compare.md"), "w", encoding="utf-8") as f:
        f.write(format_table(rows) + "\n")
