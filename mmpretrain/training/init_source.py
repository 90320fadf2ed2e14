"""InitSource: what `mmpretrain pretrain --init-from` starts from, resolved and checked.

    source = resolve_init_source("saved_models/mmpretrain_tiny", config)   # ValueError if unusable

A finished run directory comes back through `export.run_loader.load_run` (its Keras backbone,
its preprocessors); an encoder SavedModel through `export.model_dirs` (its config.json, its
preprocessors rebuilt from assets/); its weights are read at initialisation by
`export.encoder_weights.backbone_of_saved_model`. Everything here only reads. The run-directory
side (init_from.json, the corpus size, copying the weights) is in `training/init_from.py`.
"""

import dataclasses
import hashlib
import json
import os

from mmpretrain.presets import BACKBONE_PRESETS

PRETRAINER_WEIGHTS = "pretrainer.weights.h5"
BACKBONE_SIZES = ("num_layers", "hidden_dim", "num_heads", "intermediate_dim")
# The config keys each built-in front-end is built from: they must equal the source's (a
# registered modality's keys are its `modality_options` entry).
FRONT_END_KEYS = {
    "text": ("vocabulary_size", "sequence_length"),
    "image": ("image_size", "image_patch_size", "image_channels"),
    "audio": ("audio_seconds", "audio_patch_frequency", "audio_patch_time", "n_mels"),
}
HEAD_KEYS = ("decoder_dim", "decoder_layers")
ACCEPTED = (
    "--init-from accepts a finished pretraining run directory (config.json, vocab.txt and "
    "backbone.keras: what `mmpretrain pretrain --run-dir RUN_DIR` writes) or an encoder SavedModel "
    "(saved_models/NAME or saved_models/NAME/VERSION: what `mmpretrain export` writes)"
)


@dataclasses.dataclass
class InitSource:
    """Where a continued pretraining starts.

    Attributes:
        given: the path as passed.
        path: its absolute path (for a SavedModel: the version directory).
        kind: "run" (a run directory) or "saved_model" (an exported encoder).
        config: the source's pretraining config as a dict ({} when a SavedModel lacks it).
        backbone_config: the source backbone's config (sizes, sharing, front-ends).
        modalities: the modalities the source holds weights for.
        preprocessors: {modality: preprocessor} of the source (the text one: its vocabulary).
        files_dir: the directory holding the preprocessors' files (a run dir, or assets/).
        fingerprint: sha256 of the source's weight and vocabulary files (16 hex digits).
        loaded_run: the run's `LoadedRun` (its Keras backbone); None for a SavedModel.
        encoder_config: the SavedModel's assets/config.json; None for a run.
    """

    given: str
    path: str
    kind: str
    config: dict
    backbone_config: dict
    modalities: tuple
    preprocessors: dict
    files_dir: str
    fingerprint: str
    loaded_run: object = None
    encoder_config: object = None

    @property
    def has_heads(self):
        """Whether the source holds masked-prediction heads (a run with pretrainer.weights.h5)."""
        return self.kind == "run" and os.path.isfile(os.path.join(self.path, PRETRAINER_WEIGHTS))

    def record(self):
        """What init_from.json keeps."""
        return {"given": self.given, "path": self.path, "kind": self.kind, "fingerprint": self.fingerprint,
                "modalities": list(self.modalities), "heads": "source" if self.has_heads else "fresh"}


def fingerprint(paths):
    """sha256 (16 hex digits) over the names and bytes of `paths`, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _files_under(folder):
    return [os.path.join(root, name) for root, _, names in sorted(os.walk(folder)) for name in sorted(names)]


def _describe(path):
    if os.path.isfile(path):
        return "it is a file"
    entries = sorted(os.listdir(path))
    if not entries:
        return "it is an empty directory"
    listed = ", ".join(entries[:8]) + (", ..." if len(entries) > 8 else "")
    return f"it holds {listed} (no saved_model.pb, no numbered versions, no config.json)"


def _run_source(given):
    from mmpretrain.export.run_loader import FINAL_BACKBONE, load_run

    if not os.path.isfile(os.path.join(given, FINAL_BACKBONE)):
        raise ValueError(
            f"--init-from {given!r} is a pretraining run directory that has not finished: it has no "
            f"{FINAL_BACKBONE} yet (written when training completes). Finish it first (the command "
            f"that started it, e.g. `mmpretrain pretrain --config CONFIG --run-dir {given}`, resumes "
            "it), then continue from it."
        )
    try:
        run = load_run(given)
    except ValueError as err:
        raise ValueError(f"--init-from {given!r}: {err}") from None
    files = [os.path.join(given, FINAL_BACKBONE), os.path.join(given, "preprocessors.json")]
    files += [os.path.join(given, n) for n in (PRETRAINER_WEIGHTS, "vocab.txt") if os.path.isfile(os.path.join(given, n))]
    path = os.path.abspath(given)
    return InitSource(
        given=given, path=path, kind="run", config=dict(run.config), backbone_config=run.backbone.get_config(),
        modalities=tuple(run.modalities), preprocessors=dict(run.preprocessors), files_dir=path,
        fingerprint=fingerprint(files), loaded_run=run,
    )


def _saved_model_source(given):
    from mmpretrain.export import model_dirs

    try:
        directory = model_dirs.resolve_model_dir(given, "encoder SavedModel")
        info = model_dirs.encoder_config(directory)
        modalities = tuple(info.get("modalities", ()))
        preprocessors = {m: model_dirs.encoder_preprocessor(directory, m, info) for m in modalities}
    except ValueError as err:
        raise ValueError(f"--init-from {given!r}: {err}") from None
    if "backbone" not in info:
        raise ValueError(f"--init-from {given!r}: its config.json has no 'backbone' entry; re-export the encoder.")
    path = os.path.abspath(directory)
    files = _files_under(os.path.join(directory, "variables")) + _files_under(os.path.join(directory, "assets"))
    return InitSource(
        given=given, path=path, kind="saved_model", config=dict(info.get("pretraining") or {}),
        backbone_config=dict(info["backbone"]), modalities=modalities, preprocessors=preprocessors,
        files_dir=os.path.join(path, "assets"), fingerprint=fingerprint(files), encoder_config=info,
    )


def resolve_init_source(path, config=None, run_dir=None):
    """The `InitSource` at `path` (a run directory or an encoder SavedModel), checked against
    `config` (a `PretrainConfig`) when given. Reads only; ValueError on anything unusable."""
    from mmpretrain.export import model_dirs, serving_layout

    given = os.fspath(path)
    if not os.path.exists(given):
        raise ValueError(f"--init-from {given!r} does not exist. {ACCEPTED}.")
    if model_dirs.is_saved_model(given) or (os.path.isdir(given) and serving_layout.list_versions(given)):
        source = _saved_model_source(given)
    elif os.path.isfile(os.path.join(given, "config.json")):
        source = _run_source(given)
    else:
        raise ValueError(
            f"--init-from {given!r} is neither a pretraining run directory nor an encoder "
            f"SavedModel: {_describe(given)}. {ACCEPTED}."
        )
    if run_dir is not None and os.path.realpath(run_dir) == os.path.realpath(source.path):
        raise ValueError(
            f"--init-from {given!r} is the run directory itself; continued pretraining writes a new "
            "run: pass another --run-dir (its own run resumes without --init-from)."
        )
    if config is not None:
        check_source(source, config)
    return source


def init_source(init_from, config, run_dir):
    """None, an `InitSource`, or a path -> None or a checked `InitSource`."""
    if init_from is None:
        return None
    if isinstance(init_from, InitSource):
        check_source(init_from, config)
        return init_from
    return resolve_init_source(init_from, config, run_dir)


def _sizes(values):
    return ", ".join(f"{k}={values.get(k)}" for k in BACKBONE_SIZES)


def _mismatches(source, config):
    """The differences between the source and `config`, each with its fix (strings)."""
    problems = []
    missing = [m for m in config.modalities if m not in source.modalities]
    if missing:
        kept = {m: r for m, r in config.mix.items() if m not in missing and r}
        fix = (f"drop {'it' if len(missing) == 1 else 'them'} with --set mix='{json.dumps(kept)}'" if kept
               else "initialise from an encoder that has them")
        problems.append(f"modalities: the config mixes in {missing} but the source has only "
                        f"{list(source.modalities)}; {fix}")
    have = {k: source.backbone_config.get(k) for k in BACKBONE_SIZES}
    want = {k: BACKBONE_PRESETS[config.preset].get(k) for k in BACKBONE_SIZES}
    if have != want:
        same = [p for p, sizes in BACKBONE_PRESETS.items() if {k: sizes.get(k) for k in BACKBONE_SIZES} == have]
        fix = f"--set preset={same[0]}" if same else "a config file whose preset has the source's sizes"
        problems.append(f"preset: the source is preset {source.config.get('preset', '?')!r} ({_sizes(have)}), "
                        f"the config's preset {config.preset!r} is {_sizes(want)}; use {fix}")
    if source.backbone_config.get("sharing", config.sharing) != config.sharing:
        problems.append(f"sharing: the source has {source.backbone_config['sharing']!r}, the config "
                        f"{config.sharing!r}; use --set sharing={source.backbone_config['sharing']}")
    keys = [k for m in config.modalities if m in source.modalities for k in FRONT_END_KEYS.get(m, ())]
    keys += list(HEAD_KEYS) if source.has_heads else []
    for key in keys:
        if key in source.config and source.config[key] != getattr(config, key):
            problems.append(f"{key}: the source has {source.config[key]!r}, the config "
                            f"{getattr(config, key)!r}; use --set {key}={json.dumps(source.config[key])}")
    for m in config.modalities:
        if m not in FRONT_END_KEYS and m in source.modalities:
            theirs = source.config.get("modality_options", {}).get(m, {})
            if theirs != config.modality_options.get(m, {}):
                problems.append(f"modality_options[{m!r}]: the source has {theirs}, the config "
                                f"{config.modality_options.get(m, {})}; use the source's options")
    return problems


def check_source(source, config):
    """ValueError naming every mismatch of `source` and `config` (modalities, preset sizes,
    sharing, front-end settings, head sizes) with the fix for each, then the front-ends the
    config would build (with the source's files) against the source backbone's."""
    from mmpretrain.modalities.registry import get_modality

    problems = _mismatches(source, config)
    if problems:
        raise ValueError(f"--init-from {source.given!r} does not match the config: " + "; ".join(problems) + ".")
    for m in config.modalities:
        record = get_modality(m)
        produced = record.build_preprocessor(config, [], source.files_dir, False).embedding_config()
        expected = source.backbone_config.get("modalities", {}).get(m, {})
        if any(expected.get(k) != v for k, v in produced.items()):
            raise ValueError(
                f"--init-from {source.given!r} does not match the config: its {m} front-end was "
                f"built for {expected}, the config builds {produced}; set the config's {m} options "
                "to the source's (its config.json)."
            )
