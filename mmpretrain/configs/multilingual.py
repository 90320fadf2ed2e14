"""multilingual: the tiny trunk pretrained with MLM on English, German and French text, cased.

For the translation app (apps/translation/train.py): one WordPiece vocabulary of 8,000 cased
pieces over the three languages (no lower-casing, accents kept, so German and French can be
written back), learned from Debian's package descriptions of the ddtp train split and their
DDTP translations (`debian-descriptions`, `-de`, `-fr`; no validation or test description).
Text only: the image and audio front-ends are not needed by the translation app.

Run:      mmpretrain pretrain --config multilingual
Time:     about 65 minutes on 2 CPU cores (AMD EPYC, AVX2, float32) shared with two or three
          other jobs; alone it should take well under half of that.
Expected: held-out MLM loss 8.97 -> 3.71 and accuracy 0.00 -> 0.38 from step 0 to 6000
          (eval.jsonl; Debian's descriptions are formulaic, so the accuracy is high).
"""

from mmpretrain.training.config import PretrainConfig

CONFIG = PretrainConfig(
    preset="tiny",
    mix={"text": 1},
    vocabulary_size=8000,
    sequence_length=64,
    text_lower_case=False,
    global_batch_size=32,
    steps=6000,
    warmup_steps=300,
    learning_rate=2e-3,
    eval_every=1000,
    checkpoint_every=500,
    text_examples=60000,
    text_source_weights={
        "python-docs": 0, "fortunes": 0, "jargon": 0, "shakespeare": 0, "bible": 0,
        "movie-reviews": 0, "vader-train": 0,
        "debian-descriptions": 1, "debian-descriptions-de": 4, "debian-descriptions-fr": 3,
    },
    validation_examples=512,
    mixed_precision=False,
)
