"""small: the shared 4-layer, d=256 encoder on text + images + audio (2:1:1), bfloat16 where fast.

Precision: mixed_precision="auto" trains in mixed bfloat16 on CPUs with avx512_bf16 / amx_bf16
(or with a GPU) and in float32 elsewhere, where emulated bfloat16 is 2.3-2.4x slower; the run
prints which it picked and writes it to RUN_DIR/precision.json (--set mixed_precision=true or
false forces it).

Run:      mmpretrain pretrain --config small
Time:     about 40 minutes on 2 CPU cores.
Expected: lower held-out masked losses than `tiny` on every modality.
"""

from mmpretrain.training.config import PretrainConfig

CONFIG = PretrainConfig(
    preset="small",
    mix={"text": 2, "image": 1, "audio": 1},
    vocabulary_size=8000,
    sequence_length=128,
    global_batch_size=32,
    steps=6000,
    warmup_steps=300,
    learning_rate=5e-4,
    decoder_dim=128,
    mixed_precision="auto",
    eval_every=500,
    checkpoint_every=250,
    text_examples=0,
    text_source_weights={"movie-reviews": 3, "vader-train": 3},
    image_examples=0,
    audio_examples=1500,
)
