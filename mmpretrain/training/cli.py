"""`mmpretrain pretrain`: masked pretraining of the shared encoder from a config."""

import json
import os


def add_pretrain_parser(subparsers):
    p = subparsers.add_parser(
        "pretrain",
        help="masked-token pretraining of the shared encoder (text, images, audio)",
        description=(
            "Pretrain the shared encoder with masked-token objectives on unlabeled text, images "
            "and audio. Run again with the same command to resume from the last checkpoint. "
            "With --init-from, continue the pretraining of an existing encoder on your own data "
            "(domain-adaptive pretraining)."
        ),
    )
    p.add_argument("--config", default="tiny", help="a config name (tiny, mini, small) or a .py file defining CONFIG")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set steps=200 (repeatable)")
    p.add_argument("--run-dir", default=None, help="where checkpoints, logs and the result go (default runs/CONFIG)")
    p.add_argument("--strategy", default="one_device", choices=["one_device", "mirrored", "multi_worker"],
                   help="tf.distribute strategy; multi_worker reads TF_CONFIG")
    p.add_argument("--devices", type=int, default=None,
                   help="with --strategy mirrored on a CPU-only machine: split the CPU into N logical devices")
    p.add_argument("--fresh", action="store_true",
                   help="delete the run directory's contents and start over (refused while another trainer uses it)")
    p.add_argument("--text", nargs="+", default=None, help="your own text files or globs (one document per line)")
    p.add_argument("--images", default=None, help="your own image folder (class sub-folders or flat)")
    p.add_argument("--audio", default=None, help="your own audio folder (wav/flac/ogg, any sample rate)")
    p.add_argument("--data", action="append", default=[], metavar="MODALITY=PATH",
                   help="your own data for any registered modality, e.g. --data text=notes/*.txt (repeatable)")
    p.add_argument("--init-from", default=None, metavar="RUN_DIR|SAVED_MODEL",
                   help="start from an existing encoder instead of random weights: a finished run "
                        "directory (backbone and masked-prediction heads) or an encoder SavedModel "
                        "(saved_models/NAME[/VERSION]; fresh heads). Its preset, front-end settings "
                        "and vocabulary are kept (they must match the config: the error says which "
                        "--set to use); steps, learning rate and data come from this command, the "
                        "step counter and optimizer start at 0. Repeat it to resume the run.")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_pretrain)
    return p


def run_pretrain(args):
    from mmpretrain.training.config import load_config
    from mmpretrain.training.strategy import make_strategy

    config = load_config(args.config, args.set)
    data = parse_data_arguments(args.data)
    # The strategy first: logical devices and TF_CONFIG must be set before TensorFlow starts.
    strategy = make_strategy(args.strategy, devices=args.devices)
    from mmpretrain.training.pretraining_data import pretraining_data
    from mmpretrain.training.pretraining_run import PretrainingRun

    name = os.path.splitext(os.path.basename(args.config))[0]
    run_dir = args.run_dir or os.path.join("runs", name)
    # Locks the run directory for the whole run (refused if another trainer is using it).
    # --init-from is resolved and checked against the config here, before the run directory changes.
    with PretrainingRun(config, run_dir, strategy, fresh=args.fresh, progress=not args.no_progress,
                        init_from=args.init_from) as run:
        user = {k: v for k, v in (("text", args.text), ("image", args.images), ("audio", args.audio)) if v}
        user.update(data)
        train, validation = pretraining_data(config, user, progress=not args.no_progress)
        print("pretraining data: " + ", ".join(f"{m} {len(train[m])} train / {len(validation[m])} validation"
                                               for m in train), flush=True)
        run.prepare(train, validation)
        history = run.train()
        report = summarize(run, history)
    print(report)
    return 0


def parse_data_arguments(values):
    """["MODALITY=PATH", ...] -> {modality: path} (the names are checked by pretraining_data)."""
    user = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--data looks like MODALITY=PATH (e.g. --data text=notes/*.txt); received {value!r}.")
        user[name.strip()] = path.strip()
    return user


def summarize(run, history):
    """A short table: held-out masked loss per modality at the first and last evaluation, and
    the accuracy of each modality that reports one against its baseline (baselines.json)."""
    if not history:
        return "no evaluation yet"
    first, last = history[0], history[-1]
    lines = [f"held-out masked losses, step {first['step']} -> step {last['step']}:"]
    for key in sorted(k for k in last if k.endswith("_loss")):
        lines.append(f"  {key:<14} {first[key]:8.4f} -> {last[key]:8.4f}")
    if not any(f"{m}_accuracy" in last for m in run.config.modalities):
        return "\n".join(lines)
    baseline = run.baselines()
    if run.chief and baseline:
        from mmpretrain.atomic_files import atomic_write_text

        atomic_write_text(os.path.join(run.run_dir, "baselines.json"), json.dumps(baseline, indent=2))
    for m in run.config.modalities:
        if f"{m}_accuracy" in last and f"{m}_unigram_accuracy" in baseline:
            lines.append(
                f"  {m} MLM accuracy {last[f'{m}_accuracy']:.4f} vs unigram baseline "
                f"{baseline[f'{m}_unigram_accuracy']:.4f} (loss baseline {baseline[f'{m}_unigram_loss']:.4f})"
            )
    return "\n".join(lines)
