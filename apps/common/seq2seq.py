"""What the sequence-to-sequence apps share: their flags, and fitting, scoring and saving one model.

    add_seq2seq_arguments(parser, "summarization", epochs=4, max_train=20000)
    metrics, model = train_seq2seq(pairs, args, "summarization", score=rouge_scores,
                                   baselines={"lead8": lambda sources, train: [...]})

`pairs` is a `PairSplits` (`mmpretrain.data.sources.ddtp`); `score(references, predictions)`
gives the app's metrics; each baseline gets the test sources and the training pairs and returns
its predictions, scored on exactly the test examples the model is scored on.
"""

import argparse
import os
import time


def add_seq2seq_arguments(parser, app, epochs, max_train):
    """The flags the sequence-to-sequence apps share."""
    from apps.common.cli import cap

    parser.add_argument("--run", default=None, metavar="RUN_DIR",
                        help="the pretraining run whose text encoder is used (default: the run the demo "
                             "encoder saved_models/mmpretrain_tiny was exported from)")
    parser.add_argument("--encoder", default=None, metavar="DIR",
                        help="an exported encoder: its pretraining run is used (like --run)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="the same architecture with freshly initialised weights (the baseline)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--decoder-layers", type=int, default=2)
    parser.add_argument("--target-length", type=int, default=32, help="decoder positions (tokens written at most)")
    parser.add_argument("--copy", action=argparse.BooleanOptionalAction, default=False,
                        help="pointer-generator output: the decoder may copy source tokens (See et al. 2017)")
    parser.add_argument("--max-train-examples", type=cap, default=max_train,
                        help=f"cap on training pairs (default {max_train}; 'all' for every one)")
    parser.add_argument("--max-test-examples", type=cap, default=1000,
                        help="test pairs scored (default 1000; 'all' for every one)")
    parser.add_argument("--num-beams", type=int, default=1, help="decoding for the scores: 1 greedy, >1 beam")
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--no-repeat-ngram-size", type=int, default=0,
                        help="never write the same n-gram twice (0: off; Hugging Face's option)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling")
    parser.add_argument("--split-seed", type=int, default=0, help="the grouped train/validation/test split")
    parser.add_argument("--output", default=None, help=f"output folder (default runs/apps/{app}/TAG)")
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help=f"skip the SavedModel export to saved_models/{app}/VERSION")
    parser.add_argument("--no-tflite", dest="tflite", action="store_false",
                        help="skip the TFLite files (encoder + one decoder step)")
    parser.add_argument("--models", default="saved_models", help="where the SavedModel version goes")
    parser.add_argument("--quiet", action="store_true")


def resolve_run(run=None, encoder=None):
    """The pretraining run directory of --run, or of --encoder's export report (default encoder)."""
    if run is not None:
        return run
    from mmpretrain.tasks.fill_mask import run_dir_of_encoder

    return run_dir_of_encoder(encoder)


def sample_rows(count, total, seed):
    import numpy as np

    return sorted(np.random.default_rng(seed).choice(total, size=min(count, total), replace=False).tolist())


def train_seq2seq(pairs, args, app, score, baselines, task=None, extra_config=None, normalize=None):
    """Fits, scores and saves one Seq2SeqLM on `pairs` (a `PairSplits`) -> (metrics, model).

    `score(references, predictions)` -> dict; `baselines`: name -> fn(test sources, training
    pairs) -> predictions, scored on the same test examples. `normalize(model, texts)`, if given,
    maps references and baseline outputs to the model's output form before scoring (e.g. the
    tokenizer's round trip). `args` holds the shared flags (`add_seq2seq_arguments`).
    """
    import keras
    import numpy as np

    from apps.common.training import restore_best_validation
    from mmpretrain.atomic_files import atomic_write_json
    from mmpretrain.tasks.seq2seq import Seq2SeqLM, check_generation_options, check_repeat_size

    for name in ("epochs", "batch_size", "decoder_layers"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; received {getattr(args, name)}.")
    if not 2 <= args.target_length <= 512:
        raise ValueError(f"--target-length must be in [2, 512]; received {args.target_length}.")
    check_generation_options(args.target_length, args.num_beams, args.length_penalty, args.target_length)
    check_repeat_size(args.no_repeat_ngram_size, args.target_length)
    run_dir = resolve_run(args.run, args.encoder)
    tag = "scratch" if args.from_scratch else "pretrained"
    output = args.output or os.path.join("runs", "apps", app, f"{tag}-seed{args.seed}")
    rng = np.random.default_rng(args.seed)
    train = pairs.pairs["train"]
    if args.max_train_examples and len(train) > args.max_train_examples:
        train = [train[i] for i in sorted(rng.choice(len(train), args.max_train_examples, replace=False))]
    validation = pairs.pairs["validation"][:2000]
    test = pairs.pairs["test"]
    if args.max_test_examples and len(test) > args.max_test_examples:
        test = [test[i] for i in sample_rows(args.max_test_examples, len(test), 1000 + args.split_seed)]
    if not train or not validation or not test:
        raise ValueError(f"The {app} data has an empty split (train {len(train)}, validation {len(validation)}, "
                         f"test {len(test)}); it needs pairs in each.")

    model = Seq2SeqLM.from_run(run_dir, from_scratch=args.from_scratch, seed=args.seed,
                               target_length=args.target_length, num_layers=args.decoder_layers, copy=args.copy)
    keras.utils.set_random_seed(args.seed)
    steps = args.epochs * -(-len(train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=args.learning_rate,
                                                      warmup_steps=max(1, steps // 20))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0))
    train_data = model.pair_dataset([s for s, _ in train], [t for _, t in train], args.batch_size,
                                    shuffle_seed=args.seed)
    validation_data = model.pair_dataset([s for s, _ in validation], [t for _, t in validation], 64)
    best = restore_best_validation()
    started = time.perf_counter()
    history = model.fit(train_data, validation_data=validation_data, epochs=args.epochs,
                        callbacks=[best], shuffle=False, verbose=0 if args.quiet else 2)
    fit_seconds = time.perf_counter() - started

    sources, references = [s for s, _ in test], [t for _, t in test]
    scored_references = references if normalize is None else normalize(model, references)
    started = time.perf_counter()
    generated = model.generate(sources, num_beams=args.num_beams, length_penalty=args.length_penalty,
                               no_repeat_ngram_size=args.no_repeat_ngram_size)
    generate_seconds = time.perf_counter() - started
    shown = sample_rows(10, len(test), 7)
    metrics = {
        "app": app, "run": run_dir, "initialization": tag, "seed": args.seed, "split_seed": args.split_seed,
        "train_pairs": len(train), "validation_pairs": len(validation), "test_pairs": len(test),
        "epochs": args.epochs, "best_epoch": best.best_epoch, "fit_seconds": round(fit_seconds, 1),
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()},
        "decoding": {"num_beams": args.num_beams, "length_penalty": args.length_penalty,
                     "no_repeat_ngram_size": args.no_repeat_ngram_size,
                     "ms_per_example": round(1000 * generate_seconds / len(test), 2)},
        "model": model.describe(),
        "scores": score(scored_references, generated["text"]),
        "baselines": {name: score(scored_references, fit(sources, train) if normalize is None
                                  else normalize(model, fit(sources, train)))
                      for name, fit in baselines.items()},
        "examples": [{"source": sources[i], "reference": references[i], "output": generated["text"][i]}
                     for i in shown],
    }
    os.makedirs(output, exist_ok=True)
    model.save(os.path.join(output, "model.keras"))
    if args.export:
        from mmpretrain.export.seq2seq_export import export_seq2seq

        export_seq2seq(model, app, task or app, args.models, sources[:100], metrics, num_beams=args.num_beams,
                       length_penalty=args.length_penalty, extra_config=extra_config, tflite=args.tflite,
                       no_repeat_ngram_size=args.no_repeat_ngram_size,
                       log=(lambda m: None) if args.quiet else print)
    atomic_write_json(os.path.join(output, "metrics.json"), metrics)
    metrics["output"] = output
    return metrics, model


def print_summary(metrics):
    scores, baselines = metrics["scores"], metrics["baselines"]
    print(f"{metrics['app']} ({metrics['initialization']}, seed {metrics['seed']}, "
          f"{metrics['train_pairs']} training pairs, {metrics['test_pairs']} test pairs):")
    for key in scores:
        others = "   ".join(f"{name} {values[key]:6.2f}" for name, values in baselines.items())
        print(f"  {key:<8} model {scores[key]:6.2f}   {others}")
    print(f"  decoding {metrics['decoding']}  fit {metrics['fit_seconds']} s")
    for example in metrics["examples"][:3]:
        print(f"  - reference: {example['reference']}\n    output:    {example['output']}")
    print(f"  wrote {metrics['output']}")




def seq2seq_main(parser, run, argv=None):
    """The `main` of a sequence-to-sequence app: parse, run, print the summary; bad input -> exit 2."""
    from apps.common.cli import report_main

    return report_main(parser, run, print_summary, argv)
