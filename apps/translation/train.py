"""Translation, English -> German or French: a sequence-to-sequence model on the shared encoder.

    python apps/translation/train.py --target de --run runs/multilingual
    python apps/translation/train.py --target fr --run runs/multilingual --from-scratch
    python apps/translation/train.py --target de --unit paragraph --num-beams 4

Data: the Debian package descriptions and their DDTP translations (`mmpretrain data prepare
ddtp`), joined on `Description-md5`: synopses (default) or aligned paragraphs, split by
source-package family like the summarization app. The encoder comes from a pretraining run
whose vocabulary covers the target language (`mmpretrain pretrain --config multilingual`: a
cased English/German/French WordPiece vocabulary); an English-only, lower-cased run is refused.

Scores (sacreBLEU, on the test split): BLEU and chrF of the model, of copying the source, and of
a translation memory (the training pair whose English is nearest by character 2-4-gram TF-IDF
cosine -> its translation), all on the same test examples. References and baseline outputs go
through the model's tokenizer round trip first (the form the model writes: WordPiece's spacing
around punctuation), so the three are compared alike.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common.seq2seq import add_seq2seq_arguments, seq2seq_main, train_seq2seq  # noqa: E402

APP = "translation"
TARGETS = ("de", "fr")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/translation/train.py",
        description="Fine-tune an encoder-decoder on the shared pretrained (multilingual) text encoder to "
                    "translate Debian package descriptions from English; BLEU/chrF against copy and a "
                    "translation memory.")
    parser.add_argument("--target", default="de", help=f"target language: one of {list(TARGETS)}")
    parser.add_argument("--unit", default="synopsis", help="'synopsis' (default) or 'paragraph'")
    add_seq2seq_arguments(parser, APP, epochs=8, max_train=None)
    return parser


def translation_scores(references, predictions):
    """sacreBLEU's corpus BLEU and chrF (its default settings)."""
    import sacrebleu

    return {"bleu": round(sacrebleu.corpus_bleu(predictions, [references]).score, 2),
            "chrf": round(sacrebleu.corpus_chrf(predictions, [references]).score, 2)}


def translation_memory(sources, train):
    """Each source -> the translation of the training pair whose English is nearest (character
    2-4-gram TF-IDF, cosine)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    memory = vectorizer.fit_transform([s for s, _ in train])
    queries = vectorizer.transform(sources)
    best = np.asarray((queries @ memory.T).argmax(axis=1)).ravel()
    return [train[i][1] for i in best]


def round_trip(model, texts):
    """Texts as the model writes them: tokenized and detokenized by the model's own vocabulary."""
    import tensorflow as tf

    from mmpretrain.tasks.seq2seq import ids_to_text

    out = []
    for start in range(0, len(texts), 256):
        features = model.target_preprocessor(tf.constant(list(texts[start:start + 256])))
        out += [t.decode("utf-8") for t in ids_to_text(features["token_ids"][:, 1:], model.vocabulary_table).numpy()]
    return out


def check_vocabulary(run_dir, language):
    """Refuses an encoder whose vocabulary cannot write the target language."""
    from mmpretrain.export.run_loader import load_run

    preprocessor = load_run(run_dir).preprocessors.get("text")
    if preprocessor is None or preprocessor.lower_case:
        raise ValueError(
            f"The run {run_dir!r} has a lower-cased, accent-stripped vocabulary, which cannot write {language} "
            "(no capitals, no umlauts or accents). Pretrain a cased multilingual encoder with "
            "`mmpretrain pretrain --config multilingual --run-dir runs/multilingual` and pass --run runs/multilingual.")


def run(args):
    from apps.common.seq2seq import resolve_run
    from mmpretrain.data.sources import ddtp

    if args.target not in TARGETS:
        raise ValueError(f"Received --target {args.target!r}. Supported language pairs: "
                         f"{[f'en-{t}' for t in TARGETS]}.")
    check_vocabulary(resolve_run(args.run, args.encoder), args.target)
    pairs = ddtp.load_translation_pairs(args.target, unit=args.unit, seed=args.split_seed)
    app = f"{APP}_en_to_{args.target}"
    metrics, _ = train_seq2seq(
        pairs, args, app, score=translation_scores, normalize=round_trip,
        baselines={"copy": lambda sources, train: list(sources), "translation_memory": translation_memory},
        task=f"translation_en_to_{args.target}",
        extra_config={"source_language": "en", "target_language": args.target})
    return metrics


def main(argv=None):
    return seq2seq_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
