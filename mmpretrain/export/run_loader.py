"""load_run: a finished pretraining run directory -> backbone + preprocessors, or a clear error.

A run directory (see `mmpretrain/training/pretraining_run.py`) holds `config.json`,
`preprocessors.json` (each modality record's `saved_config`), the records' own files
(`vocab.txt` for text), `checkpoints/` and, once training has finished, `backbone.keras`
(written atomically). Each preprocessor comes back through its record's `load_preprocessor`.
"""

import dataclasses
import json
import os

FINAL_BACKBONE = "backbone.keras"


@dataclasses.dataclass
class LoadedRun:
    """What an export needs from a run.

    Attributes:
        run_dir: the directory.
        backbone: the `MultimodalBackbone` from `backbone.keras`.
        preprocessors: dict modality -> preprocessor (`TextPreprocessor`, ...), in the
            backbone's modality order.
        config: the pretraining config as a dict (`config.json`).
        preprocessor_configs: dict modality -> the record's `saved_config` (as in
            `preprocessors.json`; the text one without its vocabulary, which is vocab.txt).
    """

    run_dir: str
    backbone: object
    preprocessors: dict
    config: dict
    preprocessor_configs: dict

    @property
    def modalities(self):
        return tuple(self.preprocessors)


def _read_json(path, what, fix):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{what} {path!r} is missing. {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what} {path!r} is not readable JSON ({err}). {fix}") from None


def _latest_checkpoint_step(run_dir):
    """The newest checkpoint's step, or None (for the 'run not finished' message)."""
    folder = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(folder):
        return None
    try:
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(folder)
    except Exception:  # a damaged index only costs the hint
        return None
    if not latest:
        return None
    tail = latest.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _check_run_dir(run_dir):
    fix = (
        "Pass the directory `mmpretrain pretrain --run-dir RUN_DIR` wrote (it holds config.json, "
        "preprocessors.json, vocab.txt and backbone.keras)."
    )
    if not run_dir or not os.path.isdir(run_dir):
        raise ValueError(f"Run directory {run_dir!r} does not exist or is not a directory. {fix}")
    if not os.path.exists(os.path.join(run_dir, "config.json")):
        raise ValueError(f"{run_dir!r} is not a pretraining run directory: it has no config.json. {fix}")
    config = _read_json(os.path.join(run_dir, "config.json"), "The run config", fix)
    if not os.path.exists(os.path.join(run_dir, FINAL_BACKBONE)):
        step = _latest_checkpoint_step(run_dir)
        progress = (
            f"its latest checkpoint is at step {step} of {config.get('steps', '?')}"
            if step is not None
            else "it has no checkpoint yet"
        )
        raise ValueError(
            f"Run not finished: {run_dir!r} has no {FINAL_BACKBONE} ({progress}); the backbone is "
            f"written when training completes. Finish it with `mmpretrain pretrain --config "
            f"CONFIG --run-dir {run_dir}` (it resumes from the last checkpoint), then export again."
        )
    return config


def _make_preprocessors(run_dir, configs, modalities):
    from mmpretrain.modalities.registry import get_modality

    preprocessors = {}
    for modality in modalities:
        if modality not in configs:
            raise ValueError(
                f"{run_dir!r}: the backbone has a {modality!r} front-end but preprocessors.json "
                f"has no {modality!r} entry (it has {sorted(configs)}); the run directory is "
                "inconsistent. Re-run the pretraining into a fresh directory."
            )
        try:  # the record reads its own files too (text: vocab.txt; ValueError if missing/bad)
            preprocessors[modality] = get_modality(modality).load_preprocessor(configs[modality], run_dir)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{run_dir!r}: the {modality!r} preprocessor could not be rebuilt from "
                f"preprocessors.json and the run's files ({err})."
            ) from None
    return preprocessors


def _check_matches(run_dir, backbone, preprocessors):
    """Each preprocessor must produce what the backbone's embedder was built for."""
    for modality, preprocessor in preprocessors.items():
        expected = backbone.modalities[modality]
        produced = preprocessor.embedding_config()
        if any(expected.get(k) != v for k, v in produced.items()):
            raise ValueError(
                f"{run_dir!r}: the {modality} preprocessor produces {produced} but the backbone's "
                f"{modality} embedder was built for {expected}; preprocessors.json (or vocab.txt) "
                "does not belong to this backbone.keras."
            )


def as_float32(backbone):
    """The backbone computing in float32: a run trained in mixed bfloat16 keeps float32 weights
    but its layers compute in bfloat16; exports, apps and continued runs start from the float32
    model (the same weights), so the exported signatures match the Keras model they are checked
    against (in bfloat16 the two differ by ~4e-2)."""
    if backbone.dtype_policy.name == "float32":
        return backbone
    from mmpretrain.backbone import MultimodalBackbone

    config = dict(backbone.get_config(), dtype="float32")
    model = MultimodalBackbone.from_config(config)
    model.set_weights(backbone.get_weights())
    return model


def load_run(run_dir):
    """Loads a finished pretraining run. Returns a `LoadedRun`.

    Raises:
        ValueError: the directory is missing, is not a run, is not finished (no
            backbone.keras), or one of its files is missing, damaged or inconsistent.
    """
    run_dir = os.fspath(run_dir)
    config = _check_run_dir(run_dir)
    fix = "Re-run the pretraining into a fresh --run-dir."
    configs = _read_json(os.path.join(run_dir, "preprocessors.json"), "The preprocessor configs", fix)
    if not isinstance(configs, dict):
        raise ValueError(f"{run_dir!r}: preprocessors.json must hold a dict modality -> config. {fix}")

    import keras

    import mmpretrain.backbone  # noqa: F401  (registers MultimodalBackbone for load_model)

    path = os.path.join(run_dir, FINAL_BACKBONE)
    try:
        backbone = keras.saving.load_model(path, compile=False)
    except Exception as err:  # zip, h5 and deserialization errors have many types
        raise ValueError(
            f"Could not load {path!r} ({type(err).__name__}: {str(err)[:300]}); the file is "
            f"damaged, not a MultimodalBackbone, or written by a version of mmpretrain whose "
            f"layers differ from this one. {fix}"
        ) from None
    if not hasattr(backbone, "modality_model") or not hasattr(backbone, "modalities"):
        raise ValueError(f"{path!r} holds a {type(backbone).__name__}, not a MultimodalBackbone. {fix}")
    backbone = as_float32(backbone)
    preprocessors = _make_preprocessors(run_dir, configs, list(backbone.modalities))
    _check_matches(run_dir, backbone, preprocessors)
    return LoadedRun(
        run_dir=run_dir,
        backbone=backbone,
        preprocessors=preprocessors,
        config=config,
        preprocessor_configs={m: configs[m] for m in preprocessors},
    )
