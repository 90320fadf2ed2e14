"""Speech to text: fine-tune a CTC recogniser on the shared pretrained audio encoder.

    python apps/speech_to_text/train.py                         # espeak-ng sentences, flite held out
    python apps/speech_to_text/train.py --from-scratch          # the same model, fresh weights
    python apps/speech_to_text/train.py --label-fraction 0.1    # a tenth of the transcribed clips

Data (`mmpretrain.data.sources.transcribed_speech`): sentences of the pretraining run's own text
sources, minus the ones its audio pretraining corpus speaks, spoken by espeak-ng in voices split
80/10/10 (no test voice or sentence is heard in training); `test_flite` is the test sentences
spoken by flite, a synthesizer that training never hears. Clips longer than --max-seconds are
dropped, never cut.

Scores: WER and CER (`jiwer`, on `normalize_transcript`ed references) on `test` and `test_flite`
for the model and for PocketSphinx (its bundled en-US acoustic and language model) on the same
clips; the real-time factor (seconds of compute per second of audio); ten outputs drawn at random
from the test split. Writes runs/apps/speech_to_text/TAG/{metrics.json,model.keras} and exports
saved_models/speech_to_text/VERSION (`transcribe`).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common.cli import add_trunk_arguments, cap, fraction, report_main  # noqa: E402

APP = "speech_to_text"
TEST_SPLITS = ("test", "test_flite")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/speech_to_text/train.py",
        description="Fine-tune a CTC speech recogniser on the shared pretrained audio encoder; WER/CER on "
                    "unseen espeak-ng voices and on flite, against PocketSphinx.")
    add_trunk_arguments(parser, "audio encoder")
    parser.add_argument("--label-fraction", type=fraction, default=1.0,
                        help="share of the transcribed training clips used (default 1.0)")
    parser.add_argument("--num-sentences", type=int, default=3000, help="sentences synthesized (80%% train)")
    parser.add_argument("--max-seconds", type=float, default=6.0, help="the longest clip (longer ones are dropped)")
    parser.add_argument("--upsample", type=int, default=2, help="CTC frames per 80 ms time patch")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--augment", default="gain,noise",
                        help="training-clip augmentations, comma-separated from gain, delay, noise ('' for none)")
    parser.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=False,
                        help="SpecAugment: frequency and time masks on the training log-mel")
    parser.add_argument("--beam-width", type=int, default=1, help="CTC decoding: 1 greedy, >1 beam search")
    parser.add_argument("--max-test-examples", type=cap, default=300, help="clips scored per test split")
    parser.add_argument("--pocketsphinx", action=argparse.BooleanOptionalAction, default=True,
                        help="score PocketSphinx on the same test clips (cached per clip)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation, label subset and shuffling")
    parser.add_argument("--split-seed", type=int, default=0, help="sentences, voices and splits")
    parser.add_argument("--output", default=None, help=f"output folder (default runs/apps/{APP}/TAG)")
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help=f"skip the SavedModel export to saved_models/{APP}/VERSION")
    parser.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip the TFLite acoustic model")
    parser.add_argument("--models", default="saved_models", help="where the SavedModel version goes")
    parser.add_argument("--quiet", action="store_true")
    return parser


def error_rates(references, hypotheses):
    """WER and CER x100 (`jiwer`, corpus level) of normalised references against hypotheses."""
    import jiwer

    from mmpretrain.tasks.ctc_recognizer import normalize_transcript

    references = [normalize_transcript(r) for r in references]
    hypotheses = [normalize_transcript(h) for h in hypotheses]
    return {"wer": round(100 * jiwer.wer(references, hypotheses), 2),
            "cer": round(100 * jiwer.cer(references, hypotheses), 2)}


def check_args(args):
    for name, low in (("epochs", 1), ("batch_size", 1), ("num_sentences", 20)):
        if getattr(args, name) < low:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {low}; received {getattr(args, name)}.")
    if not 0.5 <= args.max_seconds <= 60:
        raise ValueError(f"--max-seconds must be in [0.5, 60]; received {args.max_seconds}.")
    if not 1 <= args.upsample <= 8:
        raise ValueError(f"--upsample must be in [1, 8]; received {args.upsample}.")
    from mmpretrain.modalities.audio import AudioModality
    from mmpretrain.modalities.augmentations import compose
    from mmpretrain.tasks.ctc_recognizer import check_beam_width

    check_beam_width(args.beam_width)
    return compose(AudioModality.augmentations, args.augment, "audio")


def load_speech(run_config, args):
    """The transcribed speech of a run's own text sources (`run_config`: its config.json as a dict),
    minus its audio pretraining sentences."""
    from mmpretrain.data.sources.text_corpus import corpus_texts
    from mmpretrain.data.sources.transcribed_speech import (
        load_transcribed_speech,
        pretraining_sentences,
    )
    from mmpretrain.modalities.audio import pretraining_speech_sources
    from mmpretrain.training.config import PretrainConfig

    config = PretrainConfig(**{k: v for k, v in run_config.items() if k in PretrainConfig.__dataclass_fields__})
    sources, _ = pretraining_speech_sources(config)
    return load_transcribed_speech(corpus_texts(sources), args.num_sentences, seed=args.split_seed,
                                   max_seconds=args.max_seconds, exclude=pretraining_sentences(config),
                                   progress=not args.quiet)


def run(args):
    import keras
    import numpy as np

    from apps.common.seq2seq import resolve_run, sample_rows
    from apps.common.training import restore_best_validation
    from apps.speech_to_text.pocketsphinx_reference import pocketsphinx_transcripts
    from mmpretrain.atomic_files import atomic_write_json
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.ctc_recognizer import CTCRecognizer

    augment = check_args(args)
    run_dir = resolve_run(args.run, args.encoder)
    loaded = load_run(run_dir)
    speech = load_speech(loaded.config, args)
    tag = ("scratch" if args.from_scratch else "pretrained") + (
        f"-labels{args.label_fraction:g}" if args.label_fraction < 1 else "")
    output = args.output or os.path.join("runs", "apps", APP, f"{tag}-seed{args.seed}")

    train_rows = np.arange(len(speech.clips["train"]))
    if args.label_fraction < 1:
        count = max(1, int(round(args.label_fraction * len(train_rows))))
        train_rows = np.sort(np.random.default_rng(args.seed).choice(train_rows, count, replace=False))
    train_clips = [speech.clips["train"][i] for i in train_rows]
    train_text = [speech.transcripts["train"][i] for i in train_rows]
    tests = {}
    for split in TEST_SPLITS:
        if split in speech.clips and speech.clips[split]:
            rows = sample_rows(args.max_test_examples or len(speech.clips[split]), len(speech.clips[split]),
                               1000 + args.split_seed)
            tests[split] = rows
    if not train_clips or not speech.clips["validation"] or "test" not in tests:
        raise ValueError(f"The speech data has an empty split ({speech.counts}); raise --num-sentences.")

    model = CTCRecognizer.from_run(loaded, from_scratch=args.from_scratch, seed=args.seed,
                                   max_seconds=args.max_seconds, upsample=args.upsample)
    keras.utils.set_random_seed(args.seed)
    steps = args.epochs * -(-len(train_clips) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=args.learning_rate,
                                                      warmup_steps=max(1, steps // 10))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0))
    train_data = model.clip_dataset(train_clips, train_text, args.batch_size, shuffle_seed=args.seed, augment=augment,
                                    spec_augment=args.spec_augment)
    validation_data = model.clip_dataset(speech.clips["validation"], speech.transcripts["validation"], 32)
    best = restore_best_validation()
    started = time.perf_counter()
    history = model.fit(train_data, validation_data=validation_data, epochs=args.epochs, callbacks=[best],
                        shuffle=False, verbose=0 if args.quiet else 2)
    fit_seconds = time.perf_counter() - started

    scores, baselines, timing, examples = {}, {}, {}, []
    validation_text = model.transcribe(speech.clips["validation"], beam_width=args.beam_width)
    scores["validation"] = error_rates(speech.transcripts["validation"], validation_text)
    for split, rows in tests.items():
        clips = [speech.clips[split][i] for i in rows]
        references = [speech.transcripts[split][i] for i in rows]
        started = time.perf_counter()
        hypotheses = model.transcribe(clips, beam_width=args.beam_width)
        seconds = time.perf_counter() - started
        audio_seconds = sum(len(c) for c in clips) / 16000.0
        timing[split] = {"real_time_factor": round(seconds / audio_seconds, 4), "audio_seconds": round(audio_seconds, 1)}
        scores[split] = error_rates(references, hypotheses)
        if args.pocketsphinx:
            sphinx = pocketsphinx_transcripts(clips, [speech.metadata[split][i] for i in rows],
                                              progress=not args.quiet)
            baselines.setdefault("pocketsphinx", {})[split] = error_rates(references, sphinx)
        if split == "test":
            examples = [{"reference": references[i], "output": hypotheses[i],
                         "voice": speech.metadata[split][rows[i]]["voice"]} for i in sample_rows(10, len(rows), 7)]
    metrics = {
        "app": APP, "run": run_dir, "initialization": "scratch" if args.from_scratch else "pretrained",
        "seed": args.seed, "split_seed": args.split_seed, "label_fraction": args.label_fraction,
        "train_clips": len(train_clips), "data": speech.counts, "epochs": args.epochs,
        "best_epoch": best.best_epoch, "fit_seconds": round(fit_seconds, 1),
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()},
        "decoding": {"beam_width": args.beam_width}, "augment": args.augment, "spec_augment": args.spec_augment,
        "model": model.describe(),
        "scores": scores, "baselines": baselines, "timing": timing, "examples": examples,
    }
    os.makedirs(output, exist_ok=True)
    model.save(os.path.join(output, "model.keras"))
    if args.export:
        from mmpretrain.export.ctc_export import export_ctc

        parity_clips = [speech.clips["test"][i] for i in tests["test"][:100]]
        export_ctc(model, APP, args.models, parity_clips, metrics, beam_width=args.beam_width, tflite=args.tflite,
                   log=(lambda m: None) if args.quiet else print)
    atomic_write_json(os.path.join(output, "metrics.json"), metrics)
    metrics["output"] = output
    return metrics


def print_summary(metrics):
    print(f"{APP} ({metrics['initialization']}, seed {metrics['seed']}, {metrics['train_clips']} training clips):")
    for split, values in metrics["scores"].items():
        sphinx = metrics["baselines"].get("pocketsphinx", {}).get(split)
        other = f"   pocketsphinx WER {sphinx['wer']:6.2f} CER {sphinx['cer']:6.2f}" if sphinx else ""
        print(f"  {split:<11} WER {values['wer']:6.2f} CER {values['cer']:6.2f}{other}")
    print(f"  timing {metrics['timing']}  fit {metrics['fit_seconds']} s")
    for example in metrics["examples"][:3]:
        print(f"  - reference: {example['reference']}\n    output:    {example['output']}")
    print(f"  wrote {metrics['output']}")


def main(argv=None):
    return report_main(build_parser(), run, print_summary, argv)

if __name__ == "__main__":
    sys.exit(main())
