"""speech: the shared tiny trunk pretrained on unlabeled speech alone, 6-second clips.

Run:      mmpretrain pretrain --config speech --run-dir runs/speech
          python apps/speech_to_text/train.py --run runs/speech [--from-scratch]
Why:      the demo's audio pretraining hears 600 two-second clips; speech recognition reads
          sentences of up to 6 s. This config masks patches of 5,000 sentences spoken by
          espeak-ng (the default audio pretraining corpus: none of them is in the speech-to-text
          app's splits), at the clip length the recogniser reads, so its position table needs
          no resizing.
Time and expected losses: see apps/speech_to_text/README.md.
"""

from mmpretrain.training.config import PretrainConfig

CONFIG = PretrainConfig(
    preset="tiny",
    mix={"audio": 1},
    audio_seconds=6.0,
    global_batch_size=32,
    steps=1200,
    warmup_steps=100,
    learning_rate=2e-3,
    eval_every=400,
    checkpoint_every=200,
    audio_examples=4000,
    validation_examples=256,
    mixed_precision=False,
)
