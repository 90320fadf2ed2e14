"""export_run: a finished pretraining run -> SavedModels in TF Serving's layout + TFLite files.

    saved_models/
      NAME/VERSION/                       the encoder: serve_text / serve_image / serve_audio
        saved_model.pb  variables/  fingerprint.pb
        assets/vocab.txt  assets/config.json
        assets.extra/export_report.json   SavedModel-vs-Keras parity, TFLite summary
        assets.extra/tflite/<modality>_{float32,int8}.tflite + .parity.json
      NAME_<suffix>/VERSION/              each record's companion_exports(), e.g. text's TF Hub
                                          pair: NAME_text_preprocess (strings -> ids) and
                                          NAME_text_encoder (ids -> outputs, core TF ops only)

Everything is built and checked in hidden temp dirs beside the versions, then moved in with
os.rename: a failed export leaves nothing behind, and an existing version is never touched. A
killed export cannot clean up its temp dirs; the next export of the model removes them (when no
live process writes them) and says so in its log and export_report.json.
"""

import dataclasses
import json
import os
import re
import time
from contextlib import ExitStack

import numpy as np

from mmpretrain.modalities.modality import batch_size, signature_arguments
from mmpretrain.modalities.registry import get_modality

SAVED_MODEL_TOLERANCE = 1e-5


@dataclasses.dataclass
class ExportResult:
    """Where an export went and what it measured.

    `companion_dirs`: {role: version dir} of the SavedModels the records wrote beside the
    encoder (`Modality.companion_exports`); `text_preprocess_dir` and `text_encoder_dir` are
    two of them, kept as attributes for TF Hub users.
    """

    name: str
    version: int
    encoder_dir: str
    text_preprocess_dir: object = None
    text_encoder_dir: object = None
    tflite_dir: object = None
    report: dict = dataclasses.field(default_factory=dict)
    companion_dirs: dict = dataclasses.field(default_factory=dict)


def check_name(name):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ValueError(
            f"Model name {name!r} is not accepted; use letters, digits, '_', '-' and '.', starting "
            "with a letter or digit (it becomes a directory and a URL path segment)."
        )
    return name


def saved_model_parity(saved_model_dir, run, modalities, samples):
    """Reloads the SavedModel and compares each signature with Keras at two batch sizes.

    `samples`: {modality: raw batch} (see `mmpretrain.export.samples`).
    """
    import tensorflow as tf

    from mmpretrain.export.encoder_export import signature_name
    from mmpretrain.export.tflite_export import keras_reference

    loaded = tf.saved_model.load(saved_model_dir)
    report = {}
    for modality in modalities:
        record = get_modality(modality)
        name = signature_name(modality)
        signature = loaded.signatures[name]
        report[modality] = {}
        for batch in sorted({1, batch_size(samples[modality])}):
            part = record.slice_batch(samples[modality], batch)
            want = keras_reference(run, modality, part)
            got = {k: v.numpy() for k, v in signature(**signature_arguments(part)).items()}
            diff = max(float(np.abs(got[k] - want[k]).max()) for k in ("pooled_output", "sequence_output"))
            same_mask = bool(np.array_equal(got["padding_mask"], want["padding_mask"]))
            report[modality][f"batch_{batch}"] = {"max_abs_diff": diff, "padding_mask_equal": same_mask}
            if diff > SAVED_MODEL_TOLERANCE or not same_mask:
                raise ValueError(
                    f"The exported {name} differs from the Keras model by {diff:.3g} at "
                    f"batch size {batch} (tolerance {SAVED_MODEL_TOLERANCE:g}; masks equal: "
                    f"{same_mask}); nothing was published."
                )
    return report


def companion_bases(output, name, modalities):
    """{role: (model dir, writer)} of the SavedModels the records write beside the encoder
    (`companion_exports`, e.g. text's `NAME_text_preprocess` and `NAME_text_encoder`)."""
    bases = {}
    for modality in modalities:
        for suffix, writer in get_modality(modality).companion_exports().items():
            bases[suffix] = (os.path.join(output, f"{name}_{suffix}"), writer)
    return bases


def export_run(run_dir, output="saved_models", name=None, version=None, modalities=None,
               tflite=True, samples=None, log=None):
    """Exports a finished pretraining run. Returns an `ExportResult`.

    Args:
        run_dir: the run directory (`mmpretrain pretrain --run-dir`).
        output: the base directory of the TF Serving layout.
        name: the model name (default: the run directory's basename).
        version: the version to write (default: the next free one); an existing version is an
            error, never overwritten.
        modalities: a subset of the run's modalities (list or "text,image"); default all.
        tflite: also write the TFLite files (float32 + int8) with their parity reports.
        samples: real inputs for the parity checks, {modality: raw batch} (see
            `mmpretrain.export.samples`); a modality it lacks gets its record's sample batch.
        log: a function taking a progress message (default: silent).

    Raises:
        ValueError: missing or unfinished run, bad name/version/modalities, an existing version,
            a Flex op in a TFLite file, or parity outside tolerance. Nothing is written then.
    """
    from mmpretrain.export import serving_layout
    from mmpretrain.export.run_loader import load_run

    log = log or (lambda message: None)
    started = time.perf_counter()
    name = check_name(name or os.path.basename(os.path.abspath(os.fspath(run_dir))))
    if version is not None:
        serving_layout.check_version(version)
    run = load_run(run_dir)  # clear errors for missing/unfinished runs before TensorFlow starts

    from mmpretrain.export.encoder_export import check_modalities, write_encoder_saved_model

    modalities = check_modalities(run, modalities)
    companions = companion_bases(output, name, modalities)
    bases = {"encoder": os.path.join(output, name), **{r: base for r, (base, _) in companions.items()}}
    version = serving_layout.next_version(*bases.values()) if version is None else version
    for base in bases.values():
        serving_layout.check_free(base, version)
    from mmpretrain.export.samples import complete_samples

    samples = complete_samples(run, modalities, samples)

    # What killed exports of these models left behind (staging dirs no live process writes).
    removed = [item for base in bases.values() for item in serving_layout.remove_leftovers(base)]
    if removed:
        log(serving_layout.describe_removed(removed))
    with ExitStack() as stack:
        staged = {role: os.path.join(stack.enter_context(serving_layout.staging_dir(base, log=log)), "model")
                  for role, base in bases.items()}
        log(f"writing the encoder SavedModel ({', '.join(modalities)})")
        config = write_encoder_saved_model(staged["encoder"], run, modalities)
        report = {"name": name, "version": version, "run_dir": os.path.abspath(os.fspath(run_dir)),
                  "modalities": list(modalities), "signatures": sorted(config["signatures"])}
        if removed:
            report["removed_leftover_staging_dirs"] = [{"path": os.path.abspath(path), "reason": reason}
                                                       for path, reason in removed]
        log("checking the reloaded SavedModel against Keras")
        report["saved_model_parity"] = saved_model_parity(staged["encoder"], run, modalities, samples)
        for role, (_, writer) in companions.items():
            log(f"writing the {role} SavedModel")
            writer(staged[role], run)
        if tflite:
            from mmpretrain.export.tflite_export import export_tflite

            log("converting to TFLite (float32 and int8) and checking parity")
            reports = export_tflite(run, os.path.join(staged["encoder"], "assets.extra", "tflite"),
                                    modalities, samples)
            report["tflite"] = {
                m: {q: {k: r[k] for k in ("file", "bytes", "bytes_by_part", "max_abs_diff",
                                          "pooled_cosine_similarity", "nearest_neighbour_agreement",
                                          "size_ratio_to_float32", "learned_weights_ratio_to_float32")
                        if k in r}
                    for q, r in per.items()}
                for m, per in reports.items()
            }
        report["seconds"] = round(time.perf_counter() - started, 1)
        os.makedirs(os.path.join(staged["encoder"], "assets.extra"), exist_ok=True)
        with open(os.path.join(staged["encoder"], "assets.extra", "export_report.json"), "w",
                  encoding="utf-8") as f:
            json.dump(report, f, indent=2, sort_keys=True)
        # The companions first, the encoder last: a server that sees the encoder's version sees all.
        order = [*companions, "encoder"]
        paths = serving_layout.publish_all([(staged[r], bases[r], version) for r in order])
    published = dict(zip(order, paths))
    log(f"published version {version}: " + ", ".join(published.values()))
    companion_dirs = {role: published[role] for role in companions}
    return ExportResult(
        name=name,
        version=version,
        encoder_dir=published["encoder"],
        text_preprocess_dir=companion_dirs.get("text_preprocess"),
        text_encoder_dir=companion_dirs.get("text_encoder"),
        tflite_dir=os.path.join(published["encoder"], "assets.extra", "tflite") if tflite else None,
        report=report,
        companion_dirs=companion_dirs,
    )
