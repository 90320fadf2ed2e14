"""mini: the shared 4-layer, d=128 encoder on text + images + audio (2:1:1), with in-domain text.

Run:      mmpretrain pretrain --config mini
Time:     measured in the closing notes of issue 11 (benchmarks/pretrain_throughput.py --presets mini).
Expected: lower held-out masked losses than `tiny` on every modality.
"""

from mmpretrain.training.config import PretrainConfig

CONFIG = PretrainConfig(
    preset="mini",
    mix={"text": 2, "image": 1, "audio": 1},
    vocabulary_size=4000,
    sequence_length=64,
    global_batch_size=32,
    steps=6000,
    warmup_steps=300,
    learning_rate=1e-3,
    decoder_dim=64,
    eval_every=1000,
    checkpoint_every=500,
    text_examples=60000,
    text_source_weights={"movie-reviews": 3, "vader-train": 3},
    image_examples=20000,
    audio_examples=600,
    validation_examples=512,
    mixed_precision="auto",
)
