"""Masked pretraining of the shared encoder, written out step by step (a keras.io-style script).

    python examples/pretrain.py --steps 300 --run-dir runs/example
    python examples/pretrain.py --texts my_notes/*.txt --images my_photos/   # your own data

The same job as `mmpretrain pretrain`, spelled out so that each piece can be swapped: the
config, the strategy, the raw data, the run (preprocessing, model, optimizer, checkpoints) and
the training loop. Running it again resumes from the last checkpoint.
"""

import argparse


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--run-dir", default="runs/example")
    parser.add_argument("--texts", nargs="+", help="text files or globs (default: the embedded corpus)")
    parser.add_argument("--images", help="an image folder (default: Fashion-MNIST)")
    parser.add_argument("--audio", help="an audio folder (default: synthesized speech)")
    args = parser.parse_args()

    # 1. A config: start from a named one and change what you need (unknown keys are refused).
    from mmpretrain.training.config import load_config

    config = load_config("tiny").replace(steps=args.steps, warmup_steps=min(100, args.steps // 10))

    # 2. A tf.distribute strategy, before anything else touches TensorFlow.
    from mmpretrain.training.strategy import make_strategy

    strategy = make_strategy("one_device")  # or "mirrored", or "multi_worker" with TF_CONFIG

    # 3. Raw data per modality: lists of strings, uint8 images, float32 16 kHz clips.
    from mmpretrain.training.pretraining_data import pretraining_data

    user = {"text": args.texts, "image": args.images, "audio": args.audio}
    train, validation = pretraining_data(config, {k: v for k, v in user.items() if v})

    # 4. The run: learns the vocabulary, preprocesses once, builds the shared backbone, the
    #    MLM head and MAE decoders, AdamW with warmup + cosine, checkpoints.
    from mmpretrain.training.pretraining_run import PretrainingRun

    run = PretrainingRun(config, args.run_dir, strategy)
    run.prepare(train, validation)

    # 5. Train (resumes from the last checkpoint) and look at the held-out masked losses.
    history = run.train()
    print("first evaluation:", history[0])
    print("last evaluation: ", history[-1])
    print("unigram baseline:", run.text_unigram_baseline())
    # The pretrained backbone is in RUN_DIR/backbone.keras; export it with
    # `mmpretrain export RUN_DIR`.


if __name__ == "__main__":
    main()
