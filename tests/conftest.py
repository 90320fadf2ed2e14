"""Shared fixtures: tiny configs so the whole suite stays fast on 2 CPU cores."""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

TINY = dict(num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32)
TINY_MODALITIES = {
    "text": {"vocabulary_size": 40, "max_length": 24},
    "image": {"patch_dim": 48, "max_patches": 64},
    "audio": {"patch_dim": 256, "max_patches": 256},
}


def make_backbone(modalities=("text", "image", "audio"), sharing="full", **overrides):
    from mmpretrain.backbone import MultimodalBackbone

    config = dict(TINY, **overrides)
    return MultimodalBackbone(
        modalities={name: TINY_MODALITIES[name] for name in modalities}, sharing=sharing, **config
    )


@pytest.fixture
def tiny_backbone_factory():
    return make_backbone


@pytest.fixture(autouse=True)
def _restore_keras_dtype_policy():
    """A test that sets Keras's global dtype policy (e.g. mixed_bfloat16) cannot leak it into the
    next one. Keras is only looked at if a test already imported it."""
    keras = sys.modules.get("keras")
    before = keras.config.dtype_policy() if keras is not None else None
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.config.set_dtype_policy(before if before is not None else "float32")


def pytest_collection_modifyitems(session, config, items):
    """The files that hold a `slow` test run first (the rest keep their order): with one worker
    per core (`make test`: pytest-xdist, a file per worker at a time), a long file started last
    would leave the other cores idle at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skip is a failure: CI installs everything, so a skip would hide one."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every dependency is installed: {reason}"
