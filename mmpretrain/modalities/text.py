"""The text modality record: UTF-8 strings -> WordPiece ids, masked language modelling.

The parts live in `text_vocabulary` (reserved tokens, learning, files), `text_preprocessor`
(`TextPreprocessor`) and `text_io` (user input checks); their public names are re-exported here.
"""

import os

import numpy as np
import tensorflow as tf

from mmpretrain.layers.token_and_position_embedding import TokenAndPositionEmbedding
from mmpretrain.modalities import text_io
from mmpretrain.modalities.modality import Modality
from mmpretrain.modalities.text_preprocessor import TextPreprocessor
from mmpretrain.modalities.text_vocabulary import (
    CLS_ID,
    CLS_TOKEN,
    MASK_ID,
    MASK_TOKEN,
    PAD_ID,
    PAD_TOKEN,
    RESERVED_TOKENS,
    SEP_ID,
    SEP_TOKEN,
    UNK_ID,
    UNK_TOKEN,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
    validate_vocabulary,
)
from mmpretrain.objectives.masked_token_objective import MaskedTokenObjective

__all__ = [
    "CLS_ID", "CLS_TOKEN", "MASK_ID", "MASK_TOKEN", "PAD_ID", "PAD_TOKEN", "RESERVED_TOKENS",
    "SEP_ID", "SEP_TOKEN", "UNK_ID", "UNK_TOKEN", "TextModality", "TextPreprocessor",
    "learn_vocabulary", "load_vocabulary", "save_vocabulary", "text_chunks", "validate_vocabulary",
]

VOCABULARY_FILE = "vocab.txt"
VOCABULARY_SAMPLE = 30000  # lines used to learn the WordPiece vocabulary
SAMPLE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A computer program does what you tell it to do, not what you want it to do.",
    "This is a great movie!",
    "I would not recommend this restaurant to anyone.",
    "Café au lait, s'il vous plaît.",
    "",
    "Numbers like 3.14159 and 2718 are tokenized too.",
    "Debugging is twice as hard as writing the code in the first place.",
)


def text_chunks(documents, words_per_chunk):
    """Splits documents into chunks of at most `words_per_chunk` words (long paragraphs are
    otherwise mostly cut off by the sequence length)."""
    chunks = []
    for document in documents:
        words = document.split()
        for start in range(0, len(words), words_per_chunk):
            piece = " ".join(words[start : start + words_per_chunk])
            if len(piece) >= 8:
                chunks.append(piece)
    return chunks


def string_array(texts):
    """str items -> numpy object array of UTF-8 bytes [B] (what a string signature takes)."""
    return np.array([t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts], dtype=object)


class TextModality(Modality):
    name = "text"
    embedding_class = TokenAndPositionEmbedding
    preprocessor_class = TextPreprocessor
    objective = MaskedTokenObjective()
    accepted = text_io.TEXT_ACCEPTED
    classification_top_k = 1
    single_label_answers = True

    def model_inputs(self, embedding_config):
        import keras

        return {
            "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input((None,), dtype="bool", name="padding_mask"),
            "segment_ids": keras.Input((None,), dtype="int32", name="segment_ids"),
        }

    def embed(self, embedder, inputs, training=None):
        if "token_ids" not in inputs:
            raise ValueError(
                f"Inputs for modality {self.name!r} need 'token_ids'; received keys {sorted(inputs)}."
            )
        return embedder(
            inputs["token_ids"],
            positions=inputs.get("positions"),
            segment_ids=inputs.get("segment_ids"),
            training=training,
        )

    def input_spec(self, preprocessor):
        return tf.TensorSpec([None], tf.string, name="text")

    def decode(self, inputs, what, info):
        return text_io.texts(inputs, what)

    def collate(self, examples, info):
        return [(list(range(len(examples))), {"text": string_array(examples)})]

    def claims(self, value):
        if isinstance(value, (str, bytes, np.str_, np.bytes_)):
            return True
        return isinstance(value, np.ndarray) and value.dtype.kind in ("U", "S", "O")

    def build_preprocessor(self, config, examples, run_dir, chief):
        """Loads run_dir/vocab.txt, or learns the vocabulary from `examples` (chief saves it)."""
        path = os.path.join(run_dir, VOCABULARY_FILE)
        if os.path.exists(path):
            vocabulary = load_vocabulary(path)
        else:
            vocabulary = learn_vocabulary(list(examples[:VOCABULARY_SAMPLE]), vocabulary_size=config.vocabulary_size,
                                          lower_case=config.text_lower_case)
            if chief:
                save_vocabulary(vocabulary, path)
        return TextPreprocessor(vocabulary, config.sequence_length, lower_case=config.text_lower_case)

    def pretraining_examples(self, items, config):
        return text_chunks(items, max(8, int(config.sequence_length * 0.6)))

    def default_pretraining_splits(self, config, progress):
        from mmpretrain import data

        return data.load_text_corpus(seed=config.seed, weights=config.text_source_weights)

    def user_pretraining_splits(self, source, config):
        from mmpretrain import data

        return data.load_text_files(source, seed=config.seed)

    def sample_batch(self, preprocessor):
        return {"text": string_array(SAMPLE_SENTENCES)}

    def export_config(self, preprocessor):
        return {
            "sequence_length": preprocessor.sequence_length,
            "vocabulary_file": VOCABULARY_FILE,
            "vocabulary_size": preprocessor.vocabulary_size,
            "lower_case": True,
        }

    def assets(self, preprocessor):
        return {"vocab_file": (VOCABULARY_FILE, "\n".join(preprocessor.vocabulary) + "\n")}

    def companion_exports(self):
        from mmpretrain.export.text_hub_export import (
            write_text_encoder_saved_model,
            write_text_preprocess_saved_model,
        )

        return {"text_preprocess": write_text_preprocess_saved_model,
                "text_encoder": write_text_encoder_saved_model}

    def saved_config(self, preprocessor):
        return {k: v for k, v in preprocessor.get_config().items() if k != "vocabulary"}

    def load_preprocessor(self, config, run_dir):
        config = dict(config)
        config["vocabulary"] = load_vocabulary(os.path.join(run_dir, VOCABULARY_FILE))
        return TextPreprocessor.from_config(config)
