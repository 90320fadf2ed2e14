"""Greedy vs beam search for a trained sequence-to-sequence app model: quality and milliseconds.

    python benchmarks/seq2seq_decoding.py runs/apps/summarization/pretrained-seed0/model.keras
    python benchmarks/seq2seq_decoding.py MODEL.keras --examples 500 --beams 1 4

Prints, on the same test examples (the app's grouped test split, the app's sample of it), for
each beam width: ROUGE-1/2/L (summarization) and milliseconds per example at batch 64; and the
time of one teacher-forced pass (encoder + decoder over the whole target buffer, no decoding
loop), which bounds what a key/value cache could save: with a cache, decoding costs about one
such pass plus the loop; without one (this implementation), each step recomputes the buffer.
Run it on an idle machine; all timings come from this one process, side by side.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a model.keras written by apps/summarization/train.py")
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--split", default="validation", choices=["validation", "test"],
                        help="choose decoding settings on validation (default); report on test")
    parser.add_argument("--no-repeat", type=int, nargs="+", default=[0],
                        help="no_repeat_ngram_size values to try (0: off)")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    import mmpretrain.tasks.seq2seq  # noqa: F401  (registers Seq2SeqLM)
    from apps.common.seq2seq import sample_rows
    from apps.summarization.train import lead, rouge_scores
    from mmpretrain.data.sources import ddtp

    model = keras.saving.load_model(args.model, compile=False)
    test = ddtp.load_summarization_pairs(seed=args.split_seed).pairs[args.split]
    test = [test[i] for i in sample_rows(args.examples, len(test), 1000 + args.split_seed)]
    sources, references = [s for s, _ in test], [t for _, t in test]
    print(f"{len(test)} {args.split} pairs; model {model.describe()}")
    print(f"lead-8: {rouge_scores(references, [lead(s) for s in sources])}")

    model.generate(sources[:2])  # trace once outside the timing
    rows = []
    for beams in args.beams:
        for repeat in args.no_repeat:
            model.generate(sources[:2], num_beams=beams, no_repeat_ngram_size=repeat)
            started = time.perf_counter()
            out = model.generate(sources, num_beams=beams, batch_size=args.batch_size, no_repeat_ngram_size=repeat)
            ms = 1000 * (time.perf_counter() - started) / len(sources)
            rows.append((f"{beams} (no-repeat {repeat})", ms, rouge_scores(references, out["text"])))
            print(f"beams {rows[-1][0]}: {ms:.2f} ms/example  {rows[-1][2]}")

    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    batches = [model.tokenize_pairs(tf.constant(sources[i:i + args.batch_size]),
                                    tf.constant(references[i:i + args.batch_size]))[0]
               for i in range(0, len(sources), args.batch_size)]
    forward(batches[0])
    started = time.perf_counter()
    for batch in batches:
        forward(batch).numpy()
    pass_ms = 1000 * (time.perf_counter() - started) / len(sources)
    print(f"one teacher-forced pass over {model.target_length} target positions: {pass_ms:.2f} ms/example")
    for beams, ms, _ in rows:
        print(f"beams {beams}: decoding / one pass = {ms / pass_ms:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
