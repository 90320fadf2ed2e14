"""The app scripts by app name, loaded as modules (`run`, `load_data`, `MODALITY`, ...)."""

import importlib

SCRIPTS = {
    "sentiment": "train",
    "image_classification": "train",
    "keyword_spotting": "train",
    "text_embedding": "search",
    "fill_mask": "export",
}
CLASSIFIER_APPS = ("sentiment", "image_classification", "keyword_spotting")
APPS = tuple(SCRIPTS)


def load_script(app):
    """The module of `apps/APP/SCRIPT.py` (e.g. `load_script("sentiment").run(...)`)."""
    if app not in SCRIPTS:
        raise ValueError(f"Unknown app {app!r}; the apps are {list(APPS)}.")
    return importlib.import_module(f"apps.{app}.{SCRIPTS[app]}")
