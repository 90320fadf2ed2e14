"""Tasks: an encoder or backbone plus a head, with the compile defaults of one job (KerasHub's
Task idea). One Keras class per file, each registered serializable (package "mmpretrain"):

    Classifier        exported encoder + Dropout/Dense head; AdamW, cross-entropy, accuracy
    TextEmbedder      exported encoder -> pooled, unit-length embeddings; `embed(user inputs)`
    FillMask          pretraining run's backbone + MLM head -> top-k tokens for [MASK]
    MaskedPretrainer  the backbone + one pretraining head per modality
    Seq2SeqLM         pretraining run's text encoder + a causal decoder: summarization, translation
    CTCRecognizer     pretraining run's audio encoder + a CTC head: speech to text

`load_encoder(path, modality, ...)` gives the encoder layer the first two wrap.
"""

from mmpretrain.tasks.classifier import Classifier
from mmpretrain.tasks.ctc_recognizer import CTCRecognizer
from mmpretrain.tasks.encoders import encoder_inputs, load_encoder, resolve_encoder
from mmpretrain.tasks.fill_mask import FillMask
from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer
from mmpretrain.tasks.text_embedder import TextEmbedder

__all__ = ["CTCRecognizer", "Classifier", "FillMask", "MaskedPretrainer", "TextEmbedder", "encoder_inputs", "load_encoder",
           "resolve_encoder"]
