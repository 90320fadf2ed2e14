"""mmpretrain: self-supervised multimodal pretraining with one shared Keras 3 Transformer.

Text (WordPiece), images (patches) and audio (log-mel patches) go through their own small
front-ends and then through ONE stack of Transformer blocks. See README.md.
"""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy imports keep `import mmpretrain` and `mmpretrain --help` fast.
    if name == "MultimodalBackbone":
        from mmpretrain.backbone import MultimodalBackbone

        return MultimodalBackbone
    if name in ("pipeline", "load"):
        from mmpretrain import pipelines

        return getattr(pipelines, name)
    raise AttributeError(f"module 'mmpretrain' has no attribute {name!r}")
