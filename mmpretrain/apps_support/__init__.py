"""Machinery the task apps in `apps/` share: encoders, label sampling, training, reports, export.

    from mmpretrain.apps_support import classifier_app, compare
    metrics = classifier_app.train_classifier("sentiment", splits, encoder="saved_models/mmpretrain_tiny")
    table = compare.compare("sentiment", label_fractions=(0.1, 1.0))

Modules:
    models          where models live (saved_models/NAME/VERSION), encoder configs, modality checks
    encoder_weights the same encoder with freshly initialised weights (--from-scratch), and the
                    fine-tuned weights back in a Keras backbone (image TFLite)
    labels          stratified, deterministic label fractions; CSV/TSV text-and-label tables
    app_data        the data each app reads: embedded sources or the user's own files/folders
    classifier_app  head on the exported encoder, fit, evaluate, metrics JSON + PNG, export
    app_export      the app's SavedModel (raw input -> label, score) + TFLite + parity
    reports         the PNG: learning curve and confusion matrix
    fill_mask       the MLM head's top-k tokens for [MASK]: model, export, held-out accuracy
    text_embedding  embeddings and cosine-similarity search; nearest-neighbour accuracy
    compare         pretrained vs scratch at several label fractions, as a table
    raw_inputs      strings, paths, bytes, arrays -> checked examples (for the pipelines)
    cli             the flags every app script shares
    testing         tiny real models for the tests
"""
