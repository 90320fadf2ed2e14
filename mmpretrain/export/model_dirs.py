"""Where models live and what they are: saved_models/NAME/VERSION, encoder and app configs.


    encoder_dir = resolve_model_dir("saved_models/mmpretrain_tiny")   # -> .../mmpretrain_tiny/3
    config = encoder_config(encoder_dir)                              # assets/config.json
    require_modality(config, "audio", app="keyword_spotting", model_dir=encoder_dir)

A model path may be a version directory (it holds `saved_model.pb`) or a model directory
`NAME/` holding integer versions (TF Serving's layout); the latter means its newest complete
version. Every failure is a ValueError that names the path and the command that builds it.
"""

import json
import os

DEFAULT_ENCODER_NAME = "mmpretrain_tiny"
ENCODER_FORMAT = "mmpretrain.encoder"
APP_FORMAT = "mmpretrain.app"

# The command that (re)builds each default model, quoted in "model missing" errors.
BUILD_COMMANDS = {
    DEFAULT_ENCODER_NAME: (
        "make demo   (or: mmpretrain pretrain --config tiny --run-dir runs/demo && "
        "mmpretrain export runs/demo --name mmpretrain_tiny)"
    ),
    "sentiment": "python apps/sentiment/train.py",
    "image_classification": "python apps/image_classification/train.py",
    "keyword_spotting": "python apps/keyword_spotting/train.py",
    "fill_mask": "python apps/fill_mask/export.py",
    "summarization": "python apps/summarization/train.py",
    "translation_en_to_de": "python apps/translation/train.py --target de --run runs/multilingual",
    "translation_en_to_fr": "python apps/translation/train.py --target fr --run runs/multilingual",
    "speech_to_text": "python apps/speech_to_text/train.py",
    "retrieval": "python apps/retrieval/train.py",
}


def models_root():
    """The base directory of exports: $MMPRETRAIN_SAVED_MODELS, else ./saved_models.

    When neither exists, the repository's saved_models/ (an editable install run from
    elsewhere) if that one exists, else ./saved_models.
    """
    if os.environ.get("MMPRETRAIN_SAVED_MODELS"):
        return os.environ["MMPRETRAIN_SAVED_MODELS"]
    if os.path.isdir("saved_models"):
        return "saved_models"
    repo = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "saved_models")
    return repo if os.path.isdir(repo) else "saved_models"


def default_model_dir(name):
    return os.path.join(models_root(), name)


def is_saved_model(path):
    from mmpretrain.export.serving_layout import SAVED_MODEL_FILE

    return os.path.isfile(os.path.join(path, SAVED_MODEL_FILE))


def resolve_model_dir(path, what="model", build_command=None):
    """A version directory, or the newest complete version of a `NAME/` directory.

    Raises ValueError naming `what`, the path, and `build_command` when nothing usable is there.
    """
    from mmpretrain.export.serving_layout import list_versions

    path = os.fspath(path)
    hint = f" Build it with: {build_command}" if build_command else ""
    if is_saved_model(path):
        return path
    if os.path.isdir(path):
        versions = list_versions(path, complete=True)
        if versions:
            return os.path.join(path, str(versions[-1]))
        raise ValueError(
            f"No {what} in {path!r}: it is neither a SavedModel directory (no saved_model.pb) nor "
            f"a model directory with numbered versions (NAME/1, NAME/2, ...).{hint}"
        )
    raise ValueError(f"No {what} at {path!r}: the directory does not exist.{hint}")


def read_asset_json(model_dir, filename):
    """assets/<filename> of a SavedModel as a dict, or None when the file is absent."""
    path = os.path.join(model_dir, "assets", filename)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path!r} is not readable JSON ({err}); re-export the model.") from None


def encoder_config(encoder_dir):
    """The encoder SavedModel's assets/config.json (what `mmpretrain export` writes)."""
    config = read_asset_json(encoder_dir, "config.json")
    if config is None or config.get("format") != ENCODER_FORMAT:
        other = read_asset_json(encoder_dir, "app.json")
        kind = f"a task app model ({other.get('app')!r})" if other else "not an mmpretrain encoder"
        raise ValueError(
            f"{encoder_dir!r} is {kind}: it has no assets/config.json of format "
            f"{ENCODER_FORMAT!r}. Pass an encoder exported by `mmpretrain export RUN_DIR --name "
            f"NAME` (saved_models/NAME or saved_models/NAME/VERSION)."
        )
    return config


def app_config(model_dir):
    """An app SavedModel's assets/app.json (what the apps write)."""
    config = read_asset_json(model_dir, "app.json")
    if config is None or config.get("format") != APP_FORMAT:
        kind = "an encoder" if read_asset_json(model_dir, "config.json") else "not an mmpretrain app model"
        raise ValueError(
            f"{model_dir!r} is {kind}: it has no assets/app.json of format {APP_FORMAT!r}. Pass "
            "a model an app exported (e.g. saved_models/sentiment, built by "
            f"`{BUILD_COMMANDS['sentiment']}`)."
        )
    return config


def require_modality(config, modality, app, model_dir):
    """ValueError unless the encoder `config` has a `modality` signature."""
    modalities = list(config.get("modalities", []))
    if modality not in modalities:
        raise ValueError(
            f"The {app} app needs an encoder with the {modality!r} modality, but {model_dir!r} was "
            f"exported with {modalities}. Pass an encoder that has it (--encoder "
            f"saved_models/NAME), e.g. export a run pretrained on {modality}: `mmpretrain export "
            f"RUN_DIR --name NAME --modalities {modality}`."
        )
    return f"serve_{modality}"


def encoder_preprocessor(encoder_dir, modality, config=None):
    """The `modality` preprocessor of an exported encoder, rebuilt from its assets.

    `config` is the encoder's config.json (read when None); the record rebuilds the
    preprocessor from `config["preprocessors"][modality]` and the files in `assets/` (e.g. the
    text vocabulary), exactly as a run's preprocessor is rebuilt from its run directory.
    """
    from mmpretrain.modalities.registry import get_modality

    config = encoder_config(encoder_dir) if config is None else config
    saved = config.get("preprocessors", {}).get(modality)
    if saved is None:
        raise ValueError(
            f"{encoder_dir!r} has no {modality!r} preprocessor in its config.json (it has "
            f"{sorted(config.get('preprocessors', {}))}); re-export the encoder with that modality."
        )
    return get_modality(modality).load_preprocessor(saved, os.path.join(encoder_dir, "assets"))


def resolve_encoder(encoder=None):
    """(encoder version dir, its config); `encoder=None` means the demo's default encoder."""
    path = encoder if encoder is not None else default_model_dir(DEFAULT_ENCODER_NAME)
    directory = resolve_model_dir(path, "encoder SavedModel", BUILD_COMMANDS[DEFAULT_ENCODER_NAME])
    return directory, encoder_config(directory)
