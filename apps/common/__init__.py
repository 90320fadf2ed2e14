"""What the app scripts share, next to them: flags, the fine-tuning steps' bookkeeping, reports,
and the pretrained-vs-scratch-vs-classical comparison.

    cli       the flags every trainable app takes, and the error handling of `main`
    training  settings, labeled splits -> tf.data, the best-validation callback, test
              evaluation (metrics.json + report.png) and the export call
    reports   classification scores, the learning-curve / confusion-matrix PNG, projections
    compare   pretrained vs scratch vs classical at several label fractions (and seeds), as a table
    classical the scikit-learn baselines, fitted on the very examples of the neural runs
    scripts   the app scripts by name, loaded as modules (for compare and the demo)

The scripts are run as files (`python apps/sentiment/train.py`); each one puts the repository
root on `sys.path` (one line) so that `apps.common` imports.
"""
