"""--adapt STEPS: continued pretraining of the app's encoder on the app's own training inputs.

    steps = adaptation.check(settings, adapt)          # before any data loads
    adaptation.adapt_encoder(splits, settings, steps)  # settings.encoder_dir: the adapted encoder

Before fine-tuning, the chosen encoder (an exported SavedModel) continues its masked pretraining
for STEPS steps on the inputs of the training pool only (the training split capped at
--max-train-examples; labels unused; never a validation or test input), with the library's
`PretrainingRun(init_from=encoder)` (`mmpretrain pretrain --init-from`): the encoder's preset,
front-end settings and vocabulary, fresh masked-prediction heads (an export holds none), its
pretraining config's learning rate, and a global batch of at most 1/MIN_ADAPTATION_BATCHES of
the inputs. A tenth of the pool's inputs (at most the config's validation_examples) is held out
of these steps for the held-out masked loss.

The run goes to REPORT_ROOT/adapt-STEPS-DIGEST/ (REPORT_ROOT: --report-dir, default
runs/apps/APP/DATA; DIGEST: of the encoder's files, the pool and the steps), and its encoder is
exported (SavedModel, no TFLite) into that run's saved_models/encoder/VERSION, inside the
git-ignored runs/. The fine-tuning starts from that export; the same command again reuses it.
"""

import hashlib
import os

import numpy as np

HELD_OUT_SHARE = 0.1


def check(settings, steps):
    """The --adapt value, checked before any data loads: None (no adaptation) or steps >= 1."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"--adapt takes a number of pretraining steps >= 1; received {steps!r}.")
    if settings.from_scratch:
        raise ValueError(
            "--adapt STEPS continues the pretraining of the chosen encoder, and --from-scratch "
            "discards its weights: drop one of them."
        )
    return int(steps)


def _preset(values):
    """The source's preset name, or a registered preset of the same sizes (ValueError if none)."""
    from mmpretrain.presets import BACKBONE_PRESETS
    from mmpretrain.training.init_source import BACKBONE_SIZES

    name = values.get("preset")
    if name in BACKBONE_PRESETS:
        return name
    raise ValueError(
        f"--adapt: the encoder was pretrained with preset {name!r}, which this installation does "
        f"not define (presets: {sorted(BACKBONE_PRESETS)}; sizes {list(BACKBONE_SIZES)}); adapt "
        "it with `mmpretrain pretrain --init-from ENCODER` and a config of its preset instead."
    )


def adaptation_config(source, modality, steps, train_count):
    """The source's pretraining config with the app's modality alone, `steps` steps, and a
    batch the corpus fills MIN_ADAPTATION_BATCHES times at least."""
    import dataclasses

    from mmpretrain.training.config import PretrainConfig
    from mmpretrain.training.init_from import MIN_ADAPTATION_BATCHES

    known = {f.name for f in dataclasses.fields(PretrainConfig)}
    values = {k: v for k, v in source.config.items() if k in known}
    batch = min(int(values.get("global_batch_size", 32)), max(1, train_count // MIN_ADAPTATION_BATCHES))
    values.update(
        preset=_preset(values), mix={modality: 1}, steps=steps, global_batch_size=batch,
        warmup_steps=min(int(values.get("warmup_steps", 0)), steps // 10),
        eval_every=steps, checkpoint_every=steps, log_every=min(steps, 20), keep_checkpoints=1,
    )
    if f"{modality}_examples" in known:  # every training input (the source's cap is for its own corpus)
        values[f"{modality}_examples"] = 0
    return PretrainConfig.from_dict(values)


def training_inputs(splits, settings):
    """The training pool's inputs as pretraining examples (the record's `decode`), and the pool."""
    from apps.common.training import split_indices
    from mmpretrain.data.labeled import take
    from mmpretrain.modalities.registry import get_modality

    pool = split_indices(splits, 1.0, settings.max_train_examples, settings.max_test_examples,
                         settings.seed, settings.split_seed)["pool"]
    items = take(splits.inputs("train"), pool)
    examples, _ = get_modality(settings.modality).decode(items, "--adapt training inputs", settings.encoder_config)
    return examples, pool


def _split(examples, count, seed):
    """(training part, held-out part) of `examples`: `count` held out, drawn with `seed`."""
    order = np.random.default_rng(seed).permutation(len(examples))
    held, kept = np.sort(order[:count]), np.sort(order[count:])
    if isinstance(examples, np.ndarray):
        return examples[kept], examples[held]
    return [examples[i] for i in kept], [examples[i] for i in held]


def inputs_digest(examples):
    """A fingerprint of the inputs themselves (strings or arrays): an adapted encoder is reused
    only for the very training inputs it was adapted on (not another split of the same size)."""
    import numpy as np

    digest = hashlib.sha256()
    for example in examples:
        if isinstance(example, (str, bytes)):
            digest.update(example.encode("utf-8") if isinstance(example, str) else example)
        else:
            array = np.ascontiguousarray(example)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def adapt_encoder(splits, settings, steps):
    """Continued pretraining of `settings.encoder_dir` for `steps` steps on the training pool's
    inputs; points `settings` at the adapted encoder (and records `settings.adaptation`).
    Returns the adapted encoder's version directory."""
    from apps.common.training import data_slug, subset_digest
    from mmpretrain.export.model_dirs import encoder_config, resolve_model_dir
    from mmpretrain.export.run_export import export_run
    from mmpretrain.export.serving_layout import list_versions
    from mmpretrain.modalities.registry import get_modality
    from mmpretrain.training.init_from import resolve_init_source
    from mmpretrain.training.pretraining_run import PretrainingRun

    s = settings
    source = resolve_init_source(s.encoder_dir)
    examples, pool = training_inputs(splits, s)
    digest = hashlib.sha256(f"{source.fingerprint} {subset_digest(pool)} {steps} {s.data_name} "
                            f"{s.split_seed} {inputs_digest(examples)}".encode()).hexdigest()[:10]
    root = s.report_dir or os.path.join("runs", "apps", s.app, data_slug(s.data_name))
    run_dir = os.path.join(root, f"adapt-{steps}-{digest}")
    output = os.path.join(run_dir, "saved_models")
    held_out = max(1, min(int(source.config.get("validation_examples", 256)) or len(examples),
                          int(HELD_OUT_SHARE * len(examples))))
    train, validation = _split(examples, held_out, seed=0)
    record = get_modality(s.modality)
    if not list_versions(os.path.join(output, "encoder"), complete=True):  # else: exported already
        config = adaptation_config(source, s.modality, steps, len(train))
        s.log(f"{s.app}: --adapt {steps}: continued pretraining of {s.encoder_dir} on {len(train)} training "
              f"inputs ({held_out} held out), labels unused -> {run_dir}")
        with PretrainingRun(config, run_dir, progress=s.verbose > 0, init_from=source) as run:
            run.prepare({s.modality: record.pretraining_examples(train, config)},
                        {s.modality: record.pretraining_examples(validation, config)})
            run.train()
        export_run(run_dir, output=output, name="encoder", tflite=False)
    from mmpretrain.training.run_logs import read_records

    evals = read_records(os.path.join(run_dir, "eval.jsonl"))
    key = f"{s.modality}_loss"
    encoder_dir = resolve_model_dir(os.path.join(output, "encoder"), "adapted encoder")
    s.adaptation = {
        "steps": steps, "run_dir": os.path.abspath(run_dir), "source_encoder": os.path.abspath(s.encoder_dir),
        "encoder": os.path.abspath(encoder_dir), "train_inputs": len(train), "held_out_inputs": held_out,
        "held_out_loss": [evals[0][key], evals[-1][key]] if evals else None,
    }
    if evals:
        s.log(f"{s.app}: --adapt {steps}: held-out masked {s.modality} loss {evals[0][key]:.4f} -> "
              f"{evals[-1][key]:.4f}; fine-tuning from {encoder_dir}")
    s.encoder_dir, s.encoder_config, s.adapt = encoder_dir, encoder_config(encoder_dir), steps
    return encoder_dir
