"""Pretrained vs scratch vs classical at several label fractions, on the same splits: a table per app.

    from apps.common.compare import compare, format_table
    rows = compare("sentiment")                 # {pretrained, scratch} x {10%, 100%} + baselines
    rows = compare("sentiment", seeds=[0, 1, 2])           # the table shows mean ± std per cell
    print(format_table(rows))

The data is split once (`split_seed`); every run uses the same (capped) training pool, the same
stratified 10% subset, the same validation/test examples, epochs and learning rate; only the
encoder's starting weights (and the label fraction) change. For the trainable apps, a classical
baseline (`apps.common.classical`) is fitted once per fraction and seed on exactly those
examples (`training.split_indices`); its test accuracy goes into the rows of that fraction and
seed as `classical` (details, or why it could not be fitted, in `classical_baseline`). Runs are
not exported (the default app model is the one `apps/APP/train.py` exports). The rows also go
to runs/apps/APP/DATA/compare.{json,md}.

Apps: the three trainable apps (test accuracy after fine-tuning), text_embedding (k-NN test
accuracy with 10%/100% of the training labels as the index, no training; and a second table of
triplet figures, `format_ranking`: sentence vs edited copy vs unrelated, same vs different
label, pretrained vs scratch vs TF-IDF) and fill_mask
(held-out top-1/top-5 of masked wordpieces; label fractions do not apply). Each runs its own
script's `run` (`apps.common.scripts`).
"""

import json
import os
import time

import numpy as np

from apps.common import training
from apps.common.classical import classical_baseline
from apps.common.scripts import APPS, CLASSIFIER_APPS, load_script
from apps.common.training import data_slug, run_tag

__all__ = ["APPS", "CLASSIFIER_APPS", "compare", "format_ranking", "format_runs", "format_table", "row"]


def compare(app, data=None, encoder=None, label_fractions=(0.1, 1.0), initializations=("pretrained", "scratch"),
            freeze=False, data_options=None, report_root=None, seed=0, seeds=None, classical=True, verbose=1,
            split_seed=0, **options):
    """Runs `app` for every seed x initialization x label fraction; returns one dict per run.

    `seeds`: the seeds to run (default: `seed` alone); each seed draws its own label subsets,
    initialisation and shuffling on the same splits (`split_seed`, default 0: the split whose
    training texts the pretraining corpus may hold and whose test texts it never holds). `classical`: for the trainable apps, also fit the classical baseline
    (`apps.common.classical`) on each (fraction, seed)'s examples, the very ones the neural runs
    use; its test accuracy goes into those runs' rows as `classical` (details in
    `classical_baseline`). With `initializations=()` only the baselines run (one row per
    fraction and seed, `initialization` None).
    `options` go to the app script's `run`: epochs, max_train_examples, learning_rate, ... for
    the trainable apps, k, max_index, ... for text_embedding; fill_mask takes `run_dir` and
    `eval_texts`. `data_options` go to the script's data loader (e.g. keywords).
    """
    if app not in APPS:
        raise ValueError(f"Unknown app {app!r}; compare runs {list(APPS)}.")
    bad = [i for i in initializations if i not in ("pretrained", "scratch")]
    classical = bool(classical) and app in CLASSIFIER_APPS
    if bad or not (initializations or classical):
        raise ValueError(f"initializations must be 'pretrained' and/or 'scratch' (or none, with the classical "
                         f"baselines of a trainable app); received {list(initializations)}.")
    seeds = [int(seed)] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. [0, 1, 2].")
    script = load_script(app)
    default_data = script.DEFAULTS.data if app in CLASSIFIER_APPS else {"text_embedding": "vader"}.get(app, "corpus")
    data = data or default_data
    report_root = report_root or os.path.join("runs", "apps", app, data_slug(data))
    rows = []
    for seed in seeds:
        def report_dir(tag):
            return os.path.join(report_root, tag if len(seeds) == 1 else f"{tag}-seed{seed}")

        if app == "fill_mask":
            rows += _compare_fill_mask(script, encoder, initializations, seed, verbose, **options)
        elif app == "text_embedding":
            splits = script.load_corpus(data, seed=split_seed, **(data_options or {}))
            for init in initializations:
                for fraction in label_fractions:
                    metrics = script.run(
                        encoder, corpus=data, queries=(), splits=splits, from_scratch=init == "scratch",
                        label_fraction=fraction, seed=seed, verbose=verbose,
                        report_dir=report_dir(f"{init}-{round(100 * fraction):g}pct"), **options,
                    )["metrics"]
                    rows.append(row(app, metrics, init, fraction, "index_examples", seed))
        else:
            encoder_dir, info = _encoder(encoder, script, app, needed=bool(initializations), verbose=verbose)
            splits = script.load_data(data, info, seed=split_seed, **(data_options or {}))
            baselines = {}
            if classical:
                caps = training.caps(script.DEFAULTS, options.get("max_train_examples", "default"),
                                     options.get("max_test_examples", "default"))
                for fraction in label_fractions:
                    baselines[fraction] = classical_baseline(splits, script.MODALITY, fraction, seed=seed, split_seed=split_seed,
                                                             info=info, **caps)
                    _log_baseline(app, baselines[fraction], verbose)
            for init in initializations:
                for fraction in label_fractions:
                    metrics = script.run(
                        data=data, encoder=encoder_dir, splits=splits, freeze=freeze, from_scratch=init == "scratch",
                        label_fraction=fraction, export=False, seed=seed, split_seed=split_seed,
                        verbose=verbose,
                        report_dir=report_dir(run_tag(init == "scratch", freeze, fraction)), **options,
                    )
                    rows.append(row(app, metrics, init, fraction, "train_examples", seed, baselines.get(fraction)))
            if not initializations:
                rows += [baseline_row(app, data, b) for b in baselines.values()]
    _write(report_root, rows)
    return rows


def _encoder(encoder, script, app, needed, verbose):
    """(encoder dir, its config.json); for the baselines alone, without an encoder, the sizes
    the demo's encoder has (the `tiny` pretraining config)."""
    from mmpretrain.tasks import resolve_encoder

    try:
        return resolve_encoder(encoder, script.MODALITY, app)
    except ValueError:
        if needed or encoder is not None:
            raise
    from mmpretrain.training.config import load_config

    c = load_config("tiny")
    if verbose:
        print(f"{app}: no encoder; the baselines take the demo encoder's sizes (tiny config: images "
              f"{c.image_size}x{c.image_size}x{c.image_channels}, audio cut at {c.audio_seconds:g} s)", flush=True)
    return None, {"image_size": c.image_size, "image_channels": c.image_channels,
                  "max_audio_seconds": c.audio_seconds}


def _log_baseline(app, result, verbose):
    if not verbose:
        return
    where = f"{app} [classical-{round(100 * result['label_fraction']):g}pct seed {result['seed']}]"
    if result["test_accuracy"] is None:
        print(f"{where}: no baseline: {result['reason']}", flush=True)
    else:
        print(f"{where}: {result['method']}, C={result['C']:g} (validation {result['validation_accuracy']:.4f}) "
              f"on {result['train_examples']} training examples: test accuracy {result['test_accuracy']:.4f}; "
              f"{result['seconds']}s", flush=True)


def row(app, metrics, init, fraction, examples_key, seed=0, baseline=None):
    """One run's row; `baseline`: the classical baseline of the same examples (or None)."""
    out = {
        "app": app, "data": metrics.get("data"), "initialization": init, "seed": int(seed),
        "freeze": bool(metrics.get("freeze", False)), "label_fraction": fraction,
        "labeled_examples": metrics.get(examples_key), "test_examples": metrics.get("test_examples"),
        "test_accuracy": metrics["test_accuracy"], "test_macro_f1": metrics.get("test_macro_f1"),
        "validation_accuracy": metrics.get("validation_accuracy"),
        "generalization": metrics.get("generalization") or {},
        "majority_baseline": metrics.get("majority_baseline"), "seconds": metrics.get("seconds"),
        "metrics_json": metrics.get("metrics_json"), "train_subset": metrics.get("train_subset"),
    }
    if baseline is not None:
        out["classical"] = baseline["test_accuracy"]
        out["classical_baseline"] = baseline
    if metrics.get("ranking"):  # text_embedding: the triplet figures of the test split
        out["ranking"] = metrics["ranking"]
    return out


def baseline_row(app, data, baseline):
    """A row of a baseline alone (no neural run): `initialization` and `test_accuracy` None."""
    return {
        "app": app, "data": data, "initialization": None, "seed": baseline["seed"], "freeze": False,
        "label_fraction": baseline["label_fraction"], "labeled_examples": baseline["train_examples"],
        "test_examples": baseline["test_examples"], "test_accuracy": None, "test_macro_f1": None,
        "majority_baseline": baseline.get("majority_baseline"), "seconds": baseline["seconds"], "metrics_json": None,
        "train_subset": baseline["train_subset"], "classical": baseline["test_accuracy"],
        "classical_baseline": baseline,
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
            "app": "fill_mask", "data": "text corpus test split", "initialization": init, "seed": int(seed),
            "freeze": False,
            "label_fraction": None, "labeled_examples": 0, "test_examples": metrics["heldout_examples"],
            "test_accuracy": metrics["heldout_top1_accuracy"], "top5_accuracy": metrics["heldout_top5_accuracy"],
            "test_macro_f1": None, "majority_baseline": metrics["heldout_most_frequent_token_accuracy"],
            "seconds": round(time.perf_counter() - started, 2), "metrics_json": None,
        })
    return rows


INITIALIZATIONS = ("pretrained", "scratch")


def spread(values):
    """'0.8123' for one value, 'mean ± std' (sample std) for several, None for none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def classical_cell(baselines):
    """The classical column of one table line: `baselines` has one result per seed."""
    if not baselines:
        return "n/a"
    text = spread(b["test_accuracy"] for b in baselines)
    reasons = sorted({str(b["reason"]).replace("|", "/") for b in baselines if b["test_accuracy"] is None})
    if text is None:
        return f"n/a: {'; '.join(reasons)}"
    missing = sum(b["test_accuracy"] is None for b in baselines)
    return text + (f" (n/a for {missing} seed(s): {'; '.join(reasons)})" if missing else "")


def format_table(rows):
    """The Markdown table: one line per app x label fraction with the test accuracy of the
    pretrained run, the scratch run and the classical baseline on the same examples (mean ± std
    over the seeds when there are several)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["app"], r["data"], bool(r.get("freeze")), r["label_fraction"]), []).append(r)
    lines = ["| app | data | labels | labeled examples | test examples | pretrained | scratch | classical | "
             "majority class | seeds |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for (app, data, freeze, fraction), members in groups.items():
        per_seed = {}  # seed -> one row (for what every run of a seed shares)
        for m in members:
            per_seed.setdefault(m.get("seed", 0), m)
        cells = []
        for init in INITIALIZATIONS:
            ran = [m for m in members if m["initialization"] == init]
            text = spread(m["test_accuracy"] for m in ran) or "-"
            top5 = spread(m.get("top5_accuracy") for m in ran)
            cells.append(text + (f" (top-5 {top5})" if top5 else ""))
        baselines = [m["classical_baseline"] for m in per_seed.values() if m.get("classical_baseline")]
        cells.append(classical_cell(baselines) if app in CLASSIFIER_APPS else "n/a")
        labeled = sorted({m["labeled_examples"] for m in members if m.get("labeled_examples") is not None})
        tested = sorted({m["test_examples"] for m in members if m.get("test_examples") is not None})
        majority = spread(m.get("majority_baseline") for m in per_seed.values()) or "-"
        labels = "n/a" if fraction is None else f"{fraction:.0%}"
        lines.append(f"| {app}{' (frozen)' if freeze else ''} | {data} | {labels} | {_span(labeled)} | "
                     f"{_span(tested)} | {' | '.join(cells)} | {majority} | "
                     f"{','.join(str(s) for s in sorted(per_seed))} |")
    extra = [t for t in (format_generalization(rows), format_ranking(rows)) if t]
    return "\n\n".join(["\n".join(lines), *extra])


def format_generalization(rows):
    """Balanced accuracy on the extra test splits (`training.extra_test_splits`: another domain,
    a synthesizer never heard) of the pretrained runs, the scratch runs and the classical
    baseline, mean ± std over the seeds; "" when no row has such a split."""
    groups = {}
    for r in rows:
        splits = set(r.get("generalization") or {}) | set((r.get("classical_baseline") or {}).get("generalization") or {})
        for split in sorted(splits):
            groups.setdefault((r["app"], r["data"], r["label_fraction"], split), []).append(r)
    if not groups:
        return ""
    lines = ["| app | data | labels | scored on | pretrained | scratch | classical | seeds |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for (app, data, fraction, split), members in groups.items():
        cells = [spread(m["generalization"][split]["balanced_accuracy"] for m in members
                        if m["initialization"] == init and split in (m.get("generalization") or {})) or "-"
                 for init in INITIALIZATIONS]
        per_seed = {m.get("seed", 0): m for m in members}
        classical = [((m.get("classical_baseline") or {}).get("generalization") or {}).get(split, {})
                     .get("balanced_accuracy") for m in per_seed.values()]
        cells.append(spread(c for c in classical if c is not None) or "n/a")
        lines.append(f"| {app} | {data} | {fraction:.0%} | {split} (balanced accuracy) | {' | '.join(cells)} | "
                     f"{','.join(str(s) for s in sorted(per_seed))} |")
    return "\n".join(lines)


def format_ranking(rows):
    """text_embedding's triplet figures (`mmpretrain.embedding_triplets`) as a Markdown table:
    the share of test-sentence triplets ranked right (ties wrong) by the pretrained encoder, the
    scratch one and TF-IDF, per figure (mean ± std over the seeds); "" without such rows. The
    figures do not depend on the label fraction: one run per initialization and seed counts."""
    from mmpretrain.embedding_triplets import CHANCE, FIGURES

    runs = {}  # (app, data, seed) -> {initialization: ranking}
    for r in rows:
        if r.get("ranking"):
            runs.setdefault((r["app"], r["data"], r.get("seed", 0)), {}).setdefault(r["initialization"], r["ranking"])
    if not runs:
        return ""
    lines = ["| app | data | figure | triplets | pretrained | scratch | TF-IDF | chance | seeds |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for app, data in dict.fromkeys((app, data) for app, data, _ in runs):
        seeds = {seed: by_init for (a, d, seed), by_init in runs.items() if (a, d) == (app, data)}
        for figure in FIGURES:
            found = [(by_init, ranking) for by_init in seeds.values() for ranking in by_init.values()
                     if ranking["encoder"][figure]]
            if not found:
                continue
            cells = [spread(by_init[init]["encoder"][figure]["score"] for by_init in seeds.values()
                            if init in by_init) or "-" for init in INITIALIZATIONS]
            tfidf = {seed: next(iter(by_init.values()))["tfidf"][figure] for seed, by_init in seeds.items()}
            cells.append(spread(f["score"] for f in tfidf.values() if f) or "-")
            counts = sorted({ranking["encoder"][figure]["triplets"] for _, ranking in found})
            lines.append(f"| {app} | {data} | {figure} | {_span(counts)} | {' | '.join(cells)} | {CHANCE:g} | "
                         f"{','.join(str(s) for s in sorted(seeds))} |")
    return "\n".join(lines)


def _span(values):
    if not values:
        return "-"
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def format_runs(rows):
    """A Markdown table with one line per run (and per baseline fitted alone)."""
    lines = ["| app | data | init | seed | labels | labeled examples | test examples | test accuracy | classical | "
             "majority class | seconds |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        labels = "n/a" if r["label_fraction"] is None else f"{r['label_fraction']:.0%}"
        accuracy = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        if r.get("top5_accuracy") is not None:
            accuracy += f" (top-5 {r['top5_accuracy']:.4f})"
        init = (r["initialization"] or "-") + (" (frozen)" if r.get("freeze") else "")
        baseline = classical_cell([r["classical_baseline"]]) if r.get("classical_baseline") else "n/a"
        majority = "-" if r.get("majority_baseline") is None else f"{r['majority_baseline']:.4f}"
        lines.append(f"| {r['app']} | {r['data']} | {init} | {r.get('seed', 0)} | {labels} | {r['labeled_examples']} | "
                     f"{r['test_examples']} | {accuracy} | {baseline} | {majority} | {r['seconds']} |")
    return "\n".join(lines)


def _write(report_root, rows):
    os.makedirs(report_root, exist_ok=True)
    with open(os.path.join(report_root, "compare.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    with open(os.path.join(report_root, "compare.md"), "w", encoding="utf-8") as f:
        f.write(format_table(rows) + "\n\nEvery run:\n\n" + format_runs(rows) + "\n")
