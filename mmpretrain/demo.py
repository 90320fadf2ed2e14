"""`mmpretrain demo` / `make demo`: the whole promise on the embedded data, stage by stage.

Each stage is skipped when its output is already there (`--force` redoes them all):

1. data      fetch the embedded data sets that are missing (`mmpretrain data prepare`)
2. shapes    build the shared `tiny` backbone and run every modality through it
3. pretrain  masked pretraining of the shared encoder on text + images + audio
4. export    the encoder as SavedModels (TF Serving layout) and TFLite: saved_models/mmpretrain_tiny
5. apps      fine-tune the sentiment, image and keyword apps from the pretrained encoder and
             from scratch, with 10% and 100% of the labels, and fit a classical baseline
             (scikit-learn, apps/common/classical.py) on exactly the same examples; export each
             app's default model (pretrained, 100%) and the fill-mask model
6. pipeline  the one-line API on examples: pipeline(task)(...) and load(...)
Then one table (pretrained vs scratch vs classical per app) and PNG plots in runs/demo/.
"""

import os
import time

import numpy as np

from mmpretrain.demo_tables import DEMO_APPS, classical_of, generalization_table, summary_table  # noqa: F401

RUN_DIR = os.path.join("runs", "demo")
APPS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps")
SAVED_MODELS = "saved_models"
ENCODER_NAME = "mmpretrain_tiny"


def banner(title):
    print(f"\n=== {title} ===", flush=True)


def stage_data(force):
    from mmpretrain.data.registry import SOURCES, prepare

    banner("1/6 data: embedded data sets")
    # The Debian descriptions serve the sequence-to-sequence apps, which the demo does not run.
    results = prepare([name for name in SOURCES if name != "ddtp" and not name.startswith("debian-descriptions")])
    missing = {k: v for k, v in results.items() if v not in ("present", "fetched")}
    for name, status in results.items():
        print(f"  {name:<14} {status}")
    if missing:
        print("  (the stages below use what is present)")


def stage_shapes(force):
    """Builds the tiny backbone and runs text, image and audio through the SAME blocks."""
    import tensorflow as tf

    from mmpretrain.backbone import MultimodalBackbone
    from mmpretrain.modalities.audio import AudioPreprocessor
    from mmpretrain.modalities.image import ImagePreprocessor
    from mmpretrain.modalities.text import TextPreprocessor, learn_vocabulary

    banner("2/6 shapes: one shared backbone, three modalities")
    texts = [
        "Self-supervised learning finds structure in unlabeled data.",
        "The same transformer blocks read text, images and sound.",
        "A little labeled data is then enough to learn a task.",
    ] * 20
    text = TextPreprocessor(learn_vocabulary(texts, vocabulary_size=200, min_count=1), sequence_length=32)
    image = ImagePreprocessor(image_size=28, patch_size=4, channels=1)
    audio = AudioPreprocessor(patch_frequency=16, patch_time=8, max_seconds=4.0)
    preprocessors = {"text": text, "image": image, "audio": audio}
    backbone = MultimodalBackbone.from_preset(
        "tiny", modalities={m: p.embedding_config() for m, p in preprocessors.items()}
    )
    rng = np.random.default_rng(0)
    inputs = {
        "text": text(["This is a great movie!", "The blocks are shared."]),
        "image": image(rng.integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8)),
        "audio": audio(tf.constant(rng.normal(scale=0.1, size=(2, 24000)).astype(np.float32))),
    }
    shared = sum(b.count_params() for b in backbone.blocks)
    print(f"  shared blocks: {len(backbone.blocks)} x TransformerBlock, {shared:,} parameters")
    for modality, batch in inputs.items():
        out = backbone(batch, modality=modality)
        front = backbone.embedders[modality].count_params()
        first = "token_ids" if "token_ids" in batch else "patches"
        print(
            f"  {modality:<6} {first} {tuple(batch[first].shape)} -> sequence_output "
            f"{tuple(out['sequence_output'].shape)}, pooled_output {tuple(out['pooled_output'].shape)} "
            f"(front-end {front:,} parameters)"
        )


def stage_pretrain(force):
    from mmpretrain.training.cli import summarize
    from mmpretrain.training.config import load_config
    from mmpretrain.training.pretraining_data import pretraining_data
    from mmpretrain.training.pretraining_run import PretrainingRun

    banner("3/6 pretrain: masked pretraining of the shared tiny encoder")
    done = os.path.exists(os.path.join(RUN_DIR, "backbone.keras"))
    config = load_config("tiny")
    run = PretrainingRun(config, RUN_DIR, fresh=force)
    if done and not force:
        print(f"  {RUN_DIR} is already pretrained (use --force to redo)")
        print(summarize_existing(run))
        return
    train, validation = pretraining_data(config)
    run.prepare(train, validation)
    history = run.train()
    print(summarize(run, history))


def summarize_existing(run):
    history = run.read_log("eval.jsonl")
    if not history:
        return "  (no evaluation log)"
    first, last = history[0], history[-1]
    return "\n".join(
        f"  {k:<14} {first[k]:8.4f} -> {last[k]:8.4f}" for k in sorted(last) if k.endswith("_loss")
    )


def latest_version(name):
    from mmpretrain.export.serving_layout import list_versions

    versions = list_versions(os.path.join(SAVED_MODELS, name))
    return max(versions) if versions else None


def stage_export(force):
    from mmpretrain.export.run_export import export_run

    banner("4/6 export: SavedModels (TF Serving layout, TF Hub text pair) and TFLite")
    version = latest_version(ENCODER_NAME)
    if version is not None and not force:
        print(f"  {SAVED_MODELS}/{ENCODER_NAME}/{version} exists (use --force to export a new version)")
        return
    result = export_run(RUN_DIR, output=SAVED_MODELS, name=ENCODER_NAME, log=lambda m: print(f"  {m}", flush=True))
    print(f"  encoder: {result.encoder_dir}")


SETTINGS = [("pretrained", 0.1), ("pretrained", 1.0), ("scratch", 0.1), ("scratch", 1.0)]


def apps_report_path():
    return os.path.join(RUN_DIR, "apps.json")


def app_script(app, script="train.py"):
    """The namespace of apps/APP/SCRIPT (its `run`, `load_data`, ...), run as a file: the demo
    runs the app scripts themselves, as `python apps/APP/SCRIPT` would."""
    import runpy

    path = os.path.join(APPS_DIR, app, script)
    if not os.path.isfile(path):
        raise ValueError(f"The demo runs the app scripts of a source checkout; {path!r} is missing.")
    return runpy.run_path(path, run_name=f"mmpretrain_demo_{app}")


def app_row(app, metrics, init, fraction):
    """One row of the pretrained-vs-scratch table (the fields apps/compare.py writes)."""
    return {
        "app": app, "data": metrics.get("data"), "initialization": init, "seed": metrics.get("seed", 0),
        "freeze": bool(metrics.get("freeze", False)), "label_fraction": fraction,
        "labeled_examples": metrics.get("train_examples"), "test_examples": metrics.get("test_examples"),
        "test_accuracy": metrics["test_accuracy"], "test_macro_f1": metrics.get("test_macro_f1"),
        "majority_baseline": metrics.get("majority_baseline"), "seconds": metrics.get("seconds"),
        "metrics_json": metrics.get("metrics_json"), "train_subset": metrics.get("train_subset"),
        "validation_accuracy": metrics.get("validation_accuracy"),
        "generalization": metrics.get("generalization") or {},
    }


def app_baseline(script, splits, fraction, config):
    """The classical baseline (apps/common/classical.py) on the examples the app's run at
    `fraction` uses: the same splits, caps (the app's defaults) and seed (0) as `run`."""
    # importable: running the app script put the repository root on sys.path
    from apps.common.classical import classical_baseline

    training = script["training"]
    return classical_baseline(splits, script["MODALITY"], fraction, seed=0, info=config,
                              **training.caps(script["DEFAULTS"]))


def attach_baseline(row, baseline):
    row["classical"] = baseline["test_accuracy"]
    row["classical_baseline"] = baseline


def stage_apps(force):
    """Every app x {pretrained, scratch} x {10%, 100%}; the pretrained 100% run is exported."""
    import json

    from tqdm.auto import tqdm

    from mmpretrain.atomic_files import atomic_write_text
    from mmpretrain.export.model_dirs import resolve_encoder

    banner("5/6 apps: fine-tune the exported encoder vs the same model from scratch vs a classical baseline")
    path = apps_report_path()
    rows = []
    if os.path.exists(path) and not force:
        with open(path) as f:
            rows = json.load(f)
    done = {(r["app"], r["initialization"], r["label_fraction"]) for r in rows}
    encoder_dir, config = resolve_encoder(os.path.join(SAVED_MODELS, ENCODER_NAME))
    todo = [(app, init, f) for app in DEMO_APPS for init, f in SETTINGS if (app, init, f) not in done]
    baselines = {(r["app"], r["label_fraction"]): r["classical_baseline"] for r in rows if r.get("classical_baseline")}
    fractions = sorted({f for _, f in SETTINGS})
    unfitted = [(app, f) for app in DEMO_APPS for f in fractions if (app, f) not in baselines]
    if not todo and not unfitted:
        print(f"  all app runs are in {path} (use --force to redo)")
    bar = tqdm(total=len(todo) + len(unfitted), desc="apps", unit="run", dynamic_ncols=True)
    scripts, splits = {}, {}

    def load(app):  # apps/APP/train.py: load the data once, run it four times
        if app not in scripts:
            scripts[app] = app_script(app)
            splits[app] = scripts[app]["load_data"](scripts[app]["DEFAULTS"].data, config)

    for app, fraction in unfitted:  # seconds each: scikit-learn on the runs' own examples
        load(app)
        baselines[app, fraction] = baseline = app_baseline(scripts[app], splits[app], fraction, config)
        for r in rows:
            if r["app"] == app and r["label_fraction"] == fraction:
                attach_baseline(r, baseline)
        bar.set_postfix(app=app, init="classical", labels=f"{fraction:.0%}",
                        acc="n/a" if baseline["test_accuracy"] is None else f"{baseline['test_accuracy']:.3f}")
        bar.update(1)
    for app, init, fraction in todo:
        load(app)
        metrics = scripts[app]["run"](
            data=scripts[app]["DEFAULTS"].data, encoder=encoder_dir, splits=splits[app],
            from_scratch=init == "scratch", label_fraction=fraction,
            export=(init == "pretrained" and fraction == 1.0), verbose=0,
        )
        rows.append(app_row(app, metrics, init, fraction))
        attach_baseline(rows[-1], baselines[app, fraction])
        atomic_write_text(path, json.dumps(rows, indent=2))  # a killed demo keeps finished runs
        bar.set_postfix(app=app, init=init, labels=f"{fraction:.0%}", acc=f"{metrics['test_accuracy']:.3f}")
        bar.update(1)
    bar.close()
    if unfitted:
        atomic_write_text(path, json.dumps(rows, indent=2))
    from mmpretrain.export.serving_layout import list_versions

    if not list_versions(os.path.join(SAVED_MODELS, "fill_mask")) or force:
        app_script("fill_mask", "export.py")["run"](run_dir=RUN_DIR, output=SAVED_MODELS,
                                                      log=lambda m: print(f"  {m}", flush=True))


def stage_pipeline(force):
    """The one-line API on a few examples (always runs: it is quick and shows the result)."""
    import mmpretrain
    from mmpretrain import data

    banner("6/6 pipeline: the one-line API")
    classify = mmpretrain.pipeline("sentiment-analysis")
    for text in ("This is a great movie!", "This is a terrible movie. I hated it."):
        print(f"  sentiment-analysis({text!r}) -> {classify(text)}")
    fashion = data.load_fashion_mnist(labeled=True)
    image, label = fashion.inputs("test")[0], fashion.class_names[fashion.labels("test")[0]]
    top = mmpretrain.pipeline("image-classification")(image, top_k=2)
    print(f"  image-classification(a test {label!r}) -> {top}")
    words = data.load_spoken_keywords()
    clip, label = words.inputs("test")[0], words.class_names[words.labels("test")[0]]
    top = mmpretrain.pipeline("audio-classification")(clip, top_k=2)
    print(f"  audio-classification({label!r} spoken by an unseen voice) -> {top}")
    fill = mmpretrain.pipeline("fill-mask")
    print(f"  fill-mask('the [MASK] of the king.') -> {[r['token_str'] for r in fill('the [MASK] of the king.', top_k=5)]}")
    embed = mmpretrain.load(os.path.join(SAVED_MODELS, ENCODER_NAME))
    print(f"  load(encoder)(3 sentences) -> {embed(['A happy song.', 'A joyful tune.', 'Tax forms.']).shape}")
    from mmpretrain.embedding_triplets import encoder_figures, format_figures

    result = encoder_figures(os.path.join(SAVED_MODELS, ENCODER_NAME))  # scratch: fresh weights, seed 0
    print(f"  text embeddings on VADER's {result['test_sentences']} test sentences: the share of triplets "
          f"ranked right (ties wrong; edited_copy: vs an edited copy, same_label: vs a same-label one)")
    for line in format_figures(result["figures"]):
        print(f"    {line}")


def save_plots(rows):
    """runs/demo/apps.png (pretrained vs scratch vs classical) and runs/demo/pretraining.png
    (held-out losses)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DEMO_APPS), figsize=(4 * len(DEMO_APPS), 3.2))
    for ax, app in zip(np.atleast_1d(axes), DEMO_APPS):
        for offset, init in ((-0.27, "pretrained"), (0.0, "scratch")):
            values = [next((r["test_accuracy"] for r in rows if r["app"] == app and r["initialization"] == init
                            and r["label_fraction"] == f), 0.0) for f in (0.1, 1.0)]
            ax.bar(np.arange(2) + offset, values, width=0.27, label=init)
        classical = [classical_of(rows, app, f)[0] for f in (0.1, 1.0)]
        ax.bar(np.arange(2) + 0.27, [v or 0.0 for v in classical], width=0.27, label="classical", color="tab:gray")
        for x, value in enumerate(classical):
            if value is None:  # the reason is in the summary table
                ax.text(x + 0.27, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks([0, 1], ["10% labels", "100% labels"])
        ax.set_title(app)
        ax.set_ylim(0, 1)
        ax.set_ylabel("test accuracy")
    np.atleast_1d(axes)[0].legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(RUN_DIR, "apps.png"), dpi=100)
    plt.close(fig)
    import json

    with open(os.path.join(RUN_DIR, "eval.jsonl")) as f:
        history = [json.loads(line) for line in f]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    from mmpretrain.modalities import modality_names

    for key in [f"{name}_loss" for name in modality_names()]:
        if key in history[0]:
            ax.plot([h["step"] for h in history], [h[key] / history[0][key] for h in history], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("held-out masked loss / step-0 loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(RUN_DIR, "pretraining.png"), dpi=100)
    plt.close(fig)


STAGES = [
    ("data", stage_data), ("shapes", stage_shapes), ("pretrain", stage_pretrain), ("export", stage_export),
    ("apps", stage_apps), ("pipeline", stage_pipeline),
]


def run_demo(args):
    start = time.time()
    only = set(args.only or [name for name, _ in STAGES])
    unknown = only - {name for name, _ in STAGES}
    if unknown:
        raise ValueError(f"Unknown demo stage(s) {sorted(unknown)}; stages: {[n for n, _ in STAGES]}.")
    for name, stage in STAGES:
        if name in only:
            stage(args.force)
    if os.path.exists(apps_report_path()):
        import json

        with open(apps_report_path()) as f:
            rows = json.load(f)
        banner("pretrained vs scratch vs classical: test accuracy")
        print(summary_table(rows))
        shifted = generalization_table(rows)
        if shifted:
            print(shifted)
        save_plots(rows)
        print(f"plots: {RUN_DIR}/apps.png, {RUN_DIR}/pretraining.png; per-run reports under runs/apps/")
    print(f"\ndemo finished in {time.time() - start:.0f} s")
    return 0


def add_demo_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="the main job end to end on the embedded data (what `make demo` runs)",
        description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("--force", action="store_true", help="redo every stage, even those already done")
    p.add_argument("--only", nargs="+", metavar="STAGE", help="run only these stages")
    p.set_defaults(func=run_demo)
    return p
