"""--init-from: continued (domain-adaptive) pretraining of an existing encoder on new data.

    source = resolve_init_source("runs/demo", config)       # or saved_models/NAME[/VERSION]
    with PretrainingRun(config, "runs/adapted", init_from=source) as run:
        run.prepare(train_raw, validation_raw)   # the source's vocabulary; the corpus size checked
        run.train()                              # step 0 holds the source's weights

A source is either a finished pretraining run directory (config.json, preprocessors.json,
vocab.txt, backbone.keras and pretrainer.weights.h5: the backbone AND the masked-prediction
heads) or an encoder SavedModel written by `mmpretrain export` (saved_models/NAME, its newest
version, or NAME/VERSION: the backbone only; the heads start fresh, and the run says so).

The run keeps the source's preset, front-end settings and vocabulary (the source's vocab.txt is
copied into the run directory; no vocabulary is learned) and trains with its own config's
steps, learning rate and data. The step counter and the optimizer start at zero.

The run directory records its source in `init_from.json` (the path and a fingerprint of the
source's weight and vocabulary files). The same command again resumes from the run's own
checkpoint and never re-initialises; another source, a resume without --init-from, or
--init-from on a run that started from random weights is refused. Every refusal is a ValueError
raised before anything in the run directory is written or changed (the lock file aside).

A modality with fewer than `minimum_examples(config)` = max(MIN_ADAPTATION_EXAMPLES,
MIN_ADAPTATION_BATCHES x global_batch_size) training examples is refused: fewer than a handful
of distinct batches would only replay the same few examples, and the held-out loss says nothing.
"""

import json
import os

from mmpretrain.atomic_files import atomic_write_json, atomic_write_text
from mmpretrain.training.init_source import (  # noqa: F401  (the API of --init-from, from here)
    PRETRAINER_WEIGHTS,
    InitSource,
    check_source,
    init_source,
    resolve_init_source,
)

INIT_RECORD = "init_from.json"
# The smallest adaptation corpus: this many global batches of distinct examples, and at least
# MIN_ADAPTATION_EXAMPLES examples, per modality the config mixes in.
MIN_ADAPTATION_BATCHES = 4
MIN_ADAPTATION_EXAMPLES = 32


def minimum_examples(config):
    """The fewest training examples per modality a continued pretraining accepts."""
    return max(MIN_ADAPTATION_EXAMPLES, MIN_ADAPTATION_BATCHES * config.global_batch_size)


def check_corpus(config, train_raw):
    """ValueError when a modality of `config` has fewer than `minimum_examples` examples."""
    from mmpretrain.modalities.registry import get_modality

    minimum = minimum_examples(config)
    for m in config.modalities:
        count = len(train_raw.get(m, ())) if train_raw.get(m) is not None else 0
        limit = get_modality(m).example_limit(config)
        count = min(count, limit) if limit else count
        if count < minimum:
            smaller = count // MIN_ADAPTATION_BATCHES
            fix = (f"give more {m} data, or lower the batch size (--set global_batch_size={smaller})"
                   if smaller >= 1 and count >= MIN_ADAPTATION_EXAMPLES else f"give more {m} data")
            raise ValueError(
                f"The adaptation corpus is too small: {count} {m} training examples, and continued "
                f"pretraining needs at least {minimum} (MIN_ADAPTATION_BATCHES={MIN_ADAPTATION_BATCHES} "
                f"batches of global_batch_size={config.global_batch_size}, and at least "
                f"MIN_ADAPTATION_EXAMPLES={MIN_ADAPTATION_EXAMPLES}); {fix}."
            )


def read_record(run_dir):
    """init_from.json of `run_dir` as a dict, or None."""
    path = os.path.join(run_dir, INIT_RECORD)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path!r} is not readable JSON ({err}); use --fresh or another --run-dir.") from None


def check_record(run_dir, source):
    """ValueError unless `source` (an `InitSource` or None) is how `run_dir` started."""
    record = read_record(run_dir)
    if record is None:
        started = any(os.path.exists(os.path.join(run_dir, n)) for n in ("config.json", "checkpoints"))
        if source is not None and started:
            raise ValueError(
                f"The run directory {run_dir!r} holds a run that started from random weights (it "
                f"has no {INIT_RECORD}), so --init-from {source.given!r} cannot apply to it. Use another "
                f"--run-dir, or --fresh to start over in this one from {source.given!r}."
            )
        return
    if source is None:
        raise ValueError(
            f"The run directory {run_dir!r} was initialised from {record.get('path')!r} ({INIT_RECORD}); "
            f"resume it with the same --init-from {record.get('given')}, or use --fresh or another --run-dir."
        )
    if record.get("path") != source.path or record.get("fingerprint") != source.fingerprint:
        raise ValueError(
            f"The run directory {run_dir!r} was initialised from {record.get('path')!r} (fingerprint "
            f"{record.get('fingerprint')}), but this command names {source.path!r} (fingerprint "
            f"{source.fingerprint}). Resume it with --init-from {record.get('given')}, or use another "
            "--run-dir (or --fresh) to continue from the new source."
        )


def write_start(run_dir, source, config):
    """Copies the source's preprocessor files (vocab.txt) into `run_dir` and writes init_from.json.

    A file the run directory holds already must equal the source's (a resumed run)."""
    from mmpretrain.modalities.registry import get_modality

    files = {}
    for m in config.modalities:
        for name, text in get_modality(m).assets(source.preprocessors[m]).values():
            files[name] = text
    for name, text in files.items():
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    raise ValueError(
                        f"{path!r} differs from the {name} of --init-from {source.given!r}; the run "
                        "directory belongs to another run: use --fresh or another --run-dir."
                    )
    for name, text in files.items():
        if not os.path.exists(os.path.join(run_dir, name)):
            atomic_write_text(os.path.join(run_dir, name), text)
    if read_record(run_dir) is None:
        atomic_write_json(os.path.join(run_dir, INIT_RECORD), source.record())


def source_weights(source):
    """{path: weight} of the source's Keras backbone, and of its heads when it has them."""
    if source.kind == "saved_model":
        from mmpretrain.export.encoder_weights import backbone_of_saved_model

        return {w.path: w for w in backbone_of_saved_model(source.path, source.encoder_config).weights}
    backbone = source.loaded_run.backbone
    if not source.has_heads:
        return {w.path: w for w in backbone.weights}
    from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer

    pretrainer = MaskedPretrainer(backbone, decoder_dim=source.config.get("decoder_dim", 64),
                                  decoder_layers=source.config.get("decoder_layers", 1))
    pretrainer.load_weights(os.path.join(source.path, PRETRAINER_WEIGHTS))
    return {w.path: w for w in pretrainer.weights}


def initialize(model, source):
    """Copies the source's weights into `model` (a `MaskedPretrainer`); returns the log line.

    Every backbone weight takes the source's value (ValueError if one has no partner of the same
    name and shape); each head takes the source's when all its weights find one, else stays fresh.
    """
    weights = source_weights(source)

    def partner(weight):
        found = weights.get(weight.path)
        return found if found is not None and tuple(found.shape) == tuple(weight.shape) else None

    missing = [w.path for w in model.backbone.weights if partner(w) is None]
    if missing:
        raise ValueError(
            f"--init-from {source.given!r}: {len(missing)} backbone weights (e.g. {missing[:3]}) have no "
            "partner of the same name and shape in the source; it was written by another version of "
            "mmpretrain. Pretrain or export it again with this version."
        )
    for weight in model.backbone.weights:
        weight.assign(partner(weight).numpy())
    loaded, fresh = [], []
    for m, head in model.heads.items():
        if all(partner(w) is not None for w in head.weights):
            for weight in head.weights:
                weight.assign(partner(weight).numpy())
            loaded.append(m)
        else:
            fresh.append(m)
    line = f"Initialised from {source.path} ({source.kind}, fingerprint {source.fingerprint}): the backbone"
    if loaded:
        line += f" and the masked-prediction heads of {', '.join(loaded)}"
    if fresh:
        why = "the SavedModel holds no pretraining heads" if source.kind == "saved_model" else "not in the source"
        line += f"; fresh masked-prediction heads for {', '.join(fresh)} ({why})"
    dropped = [m for m in source.modalities if m not in model.heads]
    if dropped:
        line += f"; the source's {', '.join(dropped)} front-end not carried over (not in the config's mix)"
    return line + ". Step counter and optimizer start at 0."
