"""Cross-modal retrieval: align text, images and speech in one space on the shared trunk.

    python apps/retrieval/train.py                    # emoji triples, the demo run's trunk
    python apps/retrieval/train.py --from-scratch     # the same model, fresh trunk weights
    python apps/retrieval/train.py --loss sigmoid     # SigLIP's loss instead of InfoNCE

Data (`mmpretrain.data.sources.emoji`): every fully-qualified emoji rendered by the Noto Color
Emoji font, its CLDR name as the caption and that caption spoken by espeak-ng or flite; split
80/10/10 grouped by `variant_key` (skin-tone and gender variants never straddle splits), the
voices split the same way. Training renders vary in scale, position and background each epoch.
No Fashion-MNIST image or label is used in training.

Scores on the test split: recall@1/5/10 and median rank for text->image, image->text,
speech->image and speech->text, beside the linear anchor (CCA on classical features of the same
pairs, `linear_anchor.py`); zero-shot accuracy on the Fashion-MNIST test images from prompts
built on the class names, and on the emoji groups of the test split. The epoch kept is the one
with the best mean validation recall. Writes runs/apps/retrieval/TAG/{metrics.json,model.keras}
and exports saved_models/retrieval/VERSION (`embed_text`, `embed_image`, `embed_audio`).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common.cli import add_trunk_arguments, cap, report_main  # noqa: E402

APP = "retrieval"
DIRECTIONS = (("text", "image"), ("image", "text"), ("audio", "image"), ("audio", "text"))
LABELS = {"text": "text", "image": "image", "audio": "speech"}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/retrieval/train.py",
        description="Align text, images and speech in one embedding space on the shared pretrained trunk "
                    "(emoji triples); retrieval recall and zero-shot accuracy against a CCA anchor.")
    add_trunk_arguments(parser, "shared trunk")
    parser.add_argument("--modalities", default="text,image,audio",
                        help="modalities aligned, comma-separated, at least two of text, image, audio")
    parser.add_argument("--loss", choices=("contrastive", "sigmoid"), default="contrastive",
                        help="contrastive: CLIP's symmetric InfoNCE; sigmoid: SigLIP's pairwise loss")
    parser.add_argument("--projection-dim", type=int, default=64, help="width of the shared space")
    parser.add_argument("--audio-seconds", type=float, default=4.0, help="spoken captions are cut after this")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="re-render the training emoji every epoch at a random scale, position and background")
    parser.add_argument("--zero-shot-images", type=cap, default=2000,
                        help="Fashion-MNIST test images scored zero-shot ('all' for 10,000)")
    parser.add_argument("--anchor", action=argparse.BooleanOptionalAction, default=True,
                        help="fit the CCA anchor on the same pairs")
    parser.add_argument("--limit", type=cap, default=None, help="use only the first N emoji (quick runs)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling")
    parser.add_argument("--split-seed", type=int, default=0, help="the grouped split and the voices")
    parser.add_argument("--output", default=None, help=f"output folder (default runs/apps/{APP}/TAG)")
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help=f"skip the SavedModel export to saved_models/{APP}/VERSION")
    parser.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip the TFLite files")
    parser.add_argument("--models", default="saved_models", help="where the SavedModel version goes")
    parser.add_argument("--quiet", action="store_true")
    return parser


def check_args(args):
    for name, low in (("epochs", 1), ("batch_size", 2), ("projection_dim", 2)):
        if getattr(args, name) < low:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {low}; received {getattr(args, name)}.")
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    unknown = [m for m in modalities if m not in LABELS]
    if unknown or len(set(modalities)) < 2 or len(set(modalities)) != len(modalities):
        raise ValueError(f"--modalities must name at least two distinct modalities of text, image, audio; "
                         f"received {args.modalities!r}.")
    return modalities


def fashion_prompts():
    """Fashion-MNIST class names as prompts ("T-shirt/top" -> "t-shirt or top")."""
    from mmpretrain.data.sources.fashion_mnist import CLASS_NAMES

    return [name.lower().replace("/", " or ") for name in CLASS_NAMES]


def direction_scores(vectors, directions):
    from mmpretrain.tasks.contrastive_aligner import retrieval_metrics

    return {f"{LABELS[q]}->{LABELS[k]}": {key: round(v, 4) for key, v in retrieval_metrics(vectors[q], vectors[k]).items()}
            for q, k in directions if q in vectors and k in vectors}


def mean_recall(scores):
    import numpy as np

    return float(np.mean([s[f"R@{k}"] for s in scores.values() for k in (1, 5, 10)]))


def split_inputs(emoji, split, modalities, rows=None):
    rows = range(len(emoji.captions[split])) if rows is None else rows
    out = {}
    if "text" in modalities:
        out["text"] = [emoji.captions[split][i] for i in rows]
    if "image" in modalities:
        out["image"] = emoji.images[split][list(rows)]
    if "audio" in modalities:
        out["audio"] = [emoji.clips[split][i] for i in rows]
    return out


def anchor_scores(emoji, modalities, max_audio_seconds):
    """The CCA anchor on each pair of modalities (fitted on train, components picked on validation)."""
    from apps.retrieval.linear_anchor import cca_anchor, classical_features
    from mmpretrain.tasks.contrastive_aligner import retrieval_metrics

    inputs = {split: split_inputs(emoji, split, modalities) for split in ("train", "validation", "test")}
    features = {}
    for m in modalities:
        train, (validation, test) = classical_features(m, inputs["train"][m], inputs["validation"][m],
                                                       inputs["test"][m], max_audio_seconds=max_audio_seconds)
        features[m] = {"train": train, "validation": validation, "test": test}
    scores, components = {}, {}
    for q, k in DIRECTIONS:
        if q not in features or k not in features:
            continue
        anchor = cca_anchor(features[q]["train"], features[k]["train"], features[q]["validation"],
                            features[k]["validation"])
        uq, uk = anchor.transform(features[q]["test"], features[k]["test"])
        name = f"{LABELS[q]}->{LABELS[k]}"
        scores[name] = {key: round(v, 4) for key, v in retrieval_metrics(uq, uk).items()}
        components[name] = anchor.components
    return scores, components


def run(args):
    import keras
    import numpy as np

    from apps.common.seq2seq import resolve_run
    from mmpretrain.atomic_files import atomic_write_json
    from mmpretrain.data.sources.emoji import load_emoji, render_variations
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.contrastive_aligner import ContrastiveAligner, zero_shot_predictions

    modalities = check_args(args)
    run_dir = resolve_run(args.run, args.encoder)
    loaded = load_run(run_dir)
    model = ContrastiveAligner.from_run(loaded, modalities, from_scratch=args.from_scratch, seed=args.seed,
                                        audio_seconds=args.audio_seconds if "audio" in modalities else None,
                                        projection_dim=args.projection_dim, loss=args.loss)
    image_size = model.preprocessors["image"].image_size if "image" in modalities else 32
    emoji = load_emoji(image_size=max(image_size, 32), speech="audio" in modalities, seed=args.split_seed,
                       limit=args.limit, progress=not args.quiet)
    if min(emoji.counts[s] for s in ("train", "validation", "test")) < 2:
        raise ValueError(f"The emoji data has a split with fewer than 2 examples ({emoji.counts}); raise --limit.")
    tag = ("scratch" if args.from_scratch else "pretrained") + (f"-{args.loss}" if args.loss != "contrastive" else "")
    output = args.output or os.path.join("runs", "apps", APP, f"{tag}-seed{args.seed}")

    train_inputs = split_inputs(emoji, "train", modalities)
    fixed = {m: model.feature_arrays(v, m) for m, v in train_inputs.items() if m != "image" or not args.augment}
    size = max(image_size, 32)

    def epoch_features(epoch):
        if "image" in modalities and args.augment:
            images = render_variations(emoji.glyphs["train"], size, 1000 * args.seed + epoch)
            return dict(fixed, image=model.feature_arrays(images, "image"))
        return fixed

    batch_size = min(args.batch_size, len(emoji.captions["train"]))
    steps_per_epoch = len(emoji.captions["train"]) // batch_size
    keras.utils.set_random_seed(args.seed)
    total = args.epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(0.0, total, warmup_target=args.learning_rate,
                                                      warmup_steps=max(1, total // 10))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05, clipnorm=1.0))
    # Featurised once: every epoch only runs the encoders on them.
    validation_features = {m: model.feature_arrays(v, m)
                           for m, v in split_inputs(emoji, "validation", modalities).items()}

    def evaluate(features):
        vectors = {m: model.embed_arrays(f, m) for m, f in features.items()}
        return vectors, direction_scores(vectors, DIRECTIONS)

    history, best, best_weights = [], None, None
    started = time.perf_counter()
    for epoch in range(args.epochs):
        data = model.triple_dataset(epoch_features(epoch), batch_size, shuffle_seed=1000 * args.seed + epoch)
        fit = model.fit(data, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
        _, scores = evaluate(validation_features)
        row = {"epoch": epoch + 1, "loss": round(float(fit.history["loss"][-1]), 4),
               "validation_mean_recall": round(mean_recall(scores), 4),
               "scale": round(float(model.scale.numpy()), 2)}
        history.append(row)
        if best is None or row["validation_mean_recall"] > best["validation_mean_recall"]:
            best, best_weights = row, model.get_weights()
        if not args.quiet:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {row['loss']:.4f}  validation mean recall "
                  f"{row['validation_mean_recall']:.4f}  scale {row['scale']}", flush=True)
    fit_seconds = time.perf_counter() - started
    model.set_weights(best_weights)

    test_vectors, test_scores = evaluate({m: model.feature_arrays(v, m)
                                          for m, v in split_inputs(emoji, "test", modalities).items()})
    zero_shot = {}
    if "image" in modalities and "text" in modalities:
        from mmpretrain.data.sources.fashion_mnist import read_fashion_mnist

        _, _, images, labels = read_fashion_mnist()
        rows = np.arange(len(images)) if args.zero_shot_images is None else np.random.default_rng(0).choice(
            len(images), min(args.zero_shot_images, len(images)), replace=False)
        predicted, _ = zero_shot_predictions(model.embed(images[rows], "image"), model.embed(fashion_prompts(), "text"))
        zero_shot["fashion_mnist"] = {"accuracy": round(float(np.mean(predicted == labels[rows])), 4),
                                      "chance": 0.1, "images": int(len(rows)), "prompts": fashion_prompts()}
        groups = sorted(set(emoji.groups["test"]))
        truth = np.array([groups.index(g) for g in emoji.groups["test"]])
        predicted, _ = zero_shot_predictions(test_vectors["image"], model.embed(groups, "text"))
        majority = float(np.max(np.bincount(truth)) / len(truth))
        zero_shot["emoji_groups"] = {"accuracy": round(float(np.mean(predicted == truth)), 4),
                                     "majority": round(majority, 4), "groups": groups}
    anchor, components = anchor_scores(emoji, modalities, args.audio_seconds) if args.anchor else ({}, {})
    metrics = {
        "app": APP, "run": run_dir, "initialization": "scratch" if args.from_scratch else "pretrained",
        "seed": args.seed, "split_seed": args.split_seed, "loss": args.loss, "modalities": modalities,
        "data": emoji.counts, "epochs": args.epochs, "best_epoch": best["epoch"], "history": history,
        "fit_seconds": round(fit_seconds, 1), "augment": args.augment, "projection_dim": args.projection_dim,
        "scores": test_scores, "validation_mean_recall": best["validation_mean_recall"],
        "test_mean_recall": round(mean_recall(test_scores), 4), "zero_shot": zero_shot,
        "baselines": {"cca": anchor, "cca_components": components},
    }
    os.makedirs(output, exist_ok=True)
    model.save(os.path.join(output, "model.keras"))
    if args.export:
        from mmpretrain.export.aligned_export import export_aligned

        parity_examples = {m: v[:32] for m, v in split_inputs(emoji, "test", modalities).items()}
        export_aligned(model, APP, args.models, parity_examples, metrics, tflite=args.tflite,
                       log=(lambda m: None) if args.quiet else print)
    atomic_write_json(os.path.join(output, "metrics.json"), metrics)
    metrics["output"] = output
    return metrics


def print_summary(metrics):
    print(f"{APP} ({metrics['initialization']}, {metrics['loss']}, seed {metrics['seed']}, best epoch "
          f"{metrics['best_epoch']}, {metrics['data']['train']} training triples):")
    for name, values in metrics["scores"].items():
        cca = metrics["baselines"]["cca"].get(name)
        other = f"   CCA R@1 {cca['R@1']:.3f} R@10 {cca['R@10']:.3f} median {cca['median_rank']:g}" if cca else ""
        print(f"  {name:<15} R@1 {values['R@1']:.3f} R@5 {values['R@5']:.3f} R@10 {values['R@10']:.3f} "
              f"median {values['median_rank']:g}{other}")
    for name, values in metrics["zero_shot"].items():
        print(f"  zero-shot {name}: accuracy {values['accuracy']:.4f}")
    print(f"  wrote {metrics['output']}")


def main(argv=None):
    return report_main(build_parser(), run, print_summary, argv, summary_keys=("scores", "zero_shot", "baselines"))

if __name__ == "__main__":
    sys.exit(main())
