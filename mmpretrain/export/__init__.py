"""Export: SavedModels (TF Hub style, TF Serving layout), TFLite files, trainable reloads.

    from mmpretrain.export import export_run, load_encoder_layer
    result = export_run("runs/tiny", output="saved_models")          # -> saved_models/tiny/1/
    layer = load_encoder_layer(result.encoder_dir, "serve_text")     # a trainable Keras layer

Imports are lazy so that `mmpretrain --help` does not start TensorFlow.
"""

_EXPORTS = {
    "load_run": "mmpretrain.export.run_loader",
    "LoadedRun": "mmpretrain.export.run_loader",
    "write_saved_model": "mmpretrain.export.saved_model_writer",
    "write_encoder_saved_model": "mmpretrain.export.encoder_export",
    "write_text_preprocess_saved_model": "mmpretrain.export.text_hub_export",
    "write_text_encoder_saved_model": "mmpretrain.export.text_hub_export",
    "export_tflite": "mmpretrain.export.tflite_export",
    "check_tflite_ops": "mmpretrain.export.tflite_export",
    "load_encoder_layer": "mmpretrain.export.trainable_encoder",
    "EncoderLayer": "mmpretrain.export.trainable_encoder",
    "export_run": "mmpretrain.export.run_export",
    "ExportResult": "mmpretrain.export.run_export",
    "next_version": "mmpretrain.export.serving_layout",
    "list_versions": "mmpretrain.export.serving_layout",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mmpretrain.export' has no attribute {name!r}")
