"""tiny: the shared 2-layer, d=64 encoder on text + images + audio (2:1:1).

Run:      mmpretrain pretrain --config tiny
Time:     about 4 minutes on 2 CPU cores (data loading included, once cached).
Expected: held-out masked losses fall from step 0 to step 6000: text 7.63 -> 5.62,
          image 3.00 -> 0.51, audio 1.60 -> 0.78; text MLM accuracy 0.128 vs the unigram
          baseline 0.044 (see eval.jsonl and baselines.json in the run directory).
"""

from mmpretrain.training.config import PretrainConfig

CONFIG = PretrainConfig(
    preset="tiny",
    mix={"text": 2, "image": 1, "audio": 1},
    vocabulary_size=2000,
    sequence_length=64,
    global_batch_size=32,
    steps=6000,
    warmup_steps=300,
    learning_rate=2e-3,
    eval_every=1000,
    checkpoint_every=500,
    text_examples=40000,
    # The in-domain sources (movie reviews, the sentiment training split) are left out: at this
    # size, weighted 3, they did not raise sentiment with 10% of the labels (validation 0.570 vs
    # 0.575, test 0.550 +- 0.023 vs 0.581 +- 0.032, 3 seeds); `mini` uses them.
    # The Debian descriptions (in-domain for summarization) are left out too: the demo's figures
    # were measured without them.
    text_source_weights={"movie-reviews": 0, "vader-train": 0, "debian-descriptions": 0},
    image_examples=20000,
    audio_examples=600,
    validation_examples=512,
    # float32 even where "auto" would pick bfloat16: at d=64 bfloat16 does not pay off, measured
    # on a CPU with amx_bf16 (benchmarks/pretrain_throughput.py: mix 13.4 vs 16.2 steps/s)
    mixed_precision=False,
)
