"""`mmpretrain demo` / `make demo`: the whole promise on the embedded data, stage by stage.

Each stage is skipped when its output is already there (`--force` redoes them all):

1. data      fetch the embedded data sets that are missing (`mmpretrain data prepare`)
2. shapes    build the shared `tiny` backbone and run every modality through it
3. pretrain  masked pretraining of the shared encoder on text + images + audio
4. export    the encoder as SavedModels (TF Serving layout) and TFLite: saved_models/mmpretrain_tiny
"""

import os
import sys
import time

import numpy as np

RUN_DIR = os.path.join("runs", "demo")
SAVED_MODELS = "saved_models"
ENCODER_NAME = "mmpretrain_tiny"


def banner(title):
    print(f"\n=== {title} ===", flush=True)


def stage_data(force):
    from mmpretrain.data.registry import prepare

    banner("1/4 data: embedded data sets")
    results = prepare(None)
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

    banner("2/4 shapes: one shared backbone, three modalities")
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

    banner("3/4 pretrain: masked pretraining of the shared tiny encoder")
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

    banner("4/4 export: SavedModels (TF Serving layout, TF Hub text pair) and TFLite")
    version = latest_version(ENCODER_NAME)
    if version is not None and not force:
        print(f"  {SAVED_MODELS}/{ENCODER_NAME}/{version} exists (use --force to export a new version)")
        return
    result = export_run(RUN_DIR, output=SAVED_MODELS, name=ENCODER_NAME, log=lambda m: print(f"  {m}", flush=True))
    print(f"  encoder: {result.encoder_dir}")


STAGES = [("data", stage_data), ("shapes", stage_shapes), ("pretrain", stage_pretrain), ("export", stage_export)]


def run_demo(args):
    start = time.time()
    only = set(args.only or [name for name, _ in STAGES])
    unknown = only - {name for name, _ in STAGES}
    if unknown:
        raise ValueError(f"Unknown demo stage(s) {sorted(unknown)}; stages: {[n for n, _ in STAGES]}.")
    for name, stage in STAGES:
        if name in only:
            stage(args.force)
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


if __name__ == "__main__":
    sys.exit(0)
