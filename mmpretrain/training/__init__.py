"""Strategy selection, input pipelines, the pretraining loop, checkpoints and resume."""
