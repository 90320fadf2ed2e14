"""Embedded real data sets (offline) and the user's own data, as tf.data pipelines.

Every loader returns a `DataSplits` with deterministic train/validation/test splits (by a stable
hash of each example's text, file path or voice, salted with the seed):

    from mmpretrain import data
    corpus = data.load_text_corpus()              # tf.string documents, ~24 MB of text
    sentiment = data.load_vader_sentiment()       # (tf.string, int32), + split "test_amazon"
    spam = data.load_sms_spam()                   # (tf.string, int32) ham/spam
    fashion = data.load_fashion_mnist()           # (uint8 [28, 28, 1], int32)
    digits = data.load_digits_splits()            # (uint8 [8, 8, 1], int32), tiny fixture
    words = data.load_spoken_keywords()           # (float32 [T] @16 kHz, int32), voice-disjoint
    speech = data.load_spoken_sentences()         # float32 [T] @16 kHz, unlabeled
    mine = data.load_image_folder("pets/")        # pets/CLASS/*.png|jpg
    sounds = data.load_audio_folder("calls/")     # calls/CLASS/*.wav|flac|ogg
    notes = data.load_text_files("notes/*.txt")   # one document per line (or per file)
    corpus.train, corpus.validation, corpus.test  # tf.data.Dataset
    corpus.counts, fashion.class_names

Missing sources raise `SourceMissingError` naming the command that fetches them:
`mmpretrain data prepare NAME` (cache folder: $MMPRETRAIN_CACHE or ~/.cache/mmpretrain).
"""

from mmpretrain.data.cache import Manifest, SourceMissingError, cache_dir
from mmpretrain.data.data_splits import DataSplits
from mmpretrain.data.fetch import FetchError
from mmpretrain.data.registry import SOURCES, describe, get_source, prepare
from mmpretrain.data.sources.digits import load_digits_splits
from mmpretrain.data.sources.fashion_mnist import load_fashion_mnist
from mmpretrain.data.sources.sentiment import load_sms_spam, load_vader_sentiment
from mmpretrain.data.sources.speech import (
    DEFAULT_KEYWORDS,
    Voice,
    default_voices,
    load_spoken_keywords,
    load_spoken_sentences,
    split_voices,
)
from mmpretrain.data.sources.text_corpus import TEXT_SOURCES, corpus_texts, load_text_corpus
from mmpretrain.data.sources.user import (
    DataWarning,
    load_audio_folder,
    load_image_folder,
    load_text_files,
)
from mmpretrain.data.splits import DEFAULT_FRACTIONS, assign_split
from mmpretrain.modalities.audio_io import SAMPLE_RATE

__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_KEYWORDS",
    "DataSplits",
    "DataWarning",
    "FetchError",
    "Manifest",
    "SAMPLE_RATE",
    "SOURCES",
    "SourceMissingError",
    "TEXT_SOURCES",
    "Voice",
    "assign_split",
    "cache_dir",
    "corpus_texts",
    "default_voices",
    "describe",
    "get_source",
    "load_audio_folder",
    "load_digits_splits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_sms_spam",
    "load_spoken_keywords",
    "load_spoken_sentences",
    "load_text_corpus",
    "load_text_files",
    "load_vader_sentiment",
    "prepare",
    "split_voices",
]
