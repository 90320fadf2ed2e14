"""Serving: an HTTP server that speaks TF Serving's REST API over exported SavedModels.

    from mmpretrain.serving import make_server
    server = make_server("saved_models", port=8501).start_in_thread()
    ...  # POST http://127.0.0.1:8501/v1/models/NAME:predict
    server.stop()

Imports are lazy so that `mmpretrain --help` does not start TensorFlow.
"""

_EXPORTS = {
    "make_server": "mmpretrain.serving.rest_server",
    "RestServer": "mmpretrain.serving.rest_server",
    "ModelRepository": "mmpretrain.serving.model_repository",
    "PredictRequest": "mmpretrain.serving.predict_request",
    "RequestError": "mmpretrain.serving.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mmpretrain.serving' has no attribute {name!r}")
