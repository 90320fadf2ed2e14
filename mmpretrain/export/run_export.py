"""export_run: a finished pretraining run -> SavedModels in TF Serving's layout + TFLite files.

    saved_models/
      NAME/VERSION/                       the encoder: serve_text / serve_image / serve_audio
        saved_model.pb  variables/  fingerprint.pb
        assets/vocab.txt  assets/config.json
        assets.extra/export_report.json   SavedModel-vs-Keras parity, TFLite summary
        assets.extra/tflite/<modality>_{float32,int8}.tflite + .parity.json
      NAME_text_preprocess/VERSION/       TF Hub text preprocessing (strings -> ids)
      NAME_text_encoder/VERSION/          TF Hub text encoder on ids (core TF ops only)

Everything is built and checked in hidden temp dirs beside the versions, then moved in with
os.rename: a failed export leaves nothing behind, and an existing version is never touched.
"""

import dataclasses
import json
import os
import re
import time
from contextlib import ExitStack

import numpy as np

SAVED_MODEL_TOLERANCE = 1e-5


@dataclasses.dataclass
class ExportResult:
    """Where an export went and what it measured."""

    name: str
    version: int
    encoder_dir: str
    text_preprocess_dir: object = None
    text_encoder_dir: object = None
    tflite_dir: object = None
    report: dict = dataclasses.field(default_factory=dict)


def check_name(name):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ValueError(
            f"Model name {name!r} is not accepted; use letters, digits, '_', '-' and '.', starting "
            "with a letter or digit (it becomes a directory and a URL path segment)."
        )
    return name


def saved_model_parity(saved_model_dir, run, modalities, samples):
    """Reloads the SavedModel and compares each signature with Keras at two batch sizes."""
    import tensorflow as tf

    from mmpretrain.export.tflite_export import keras_reference

    loaded = tf.saved_model.load(saved_model_dir)
    report = {}
    for modality in modalities:
        signature = loaded.signatures[f"serve_{modality}"]
        report[modality] = {}
        for batch in sorted({1, _count(samples, modality)}):
            part = _slice_samples(samples, modality, batch)
            want = keras_reference(run, modality, part)
            got = {k: v.numpy() for k, v in signature(**_signature_inputs(modality, part)).items()}
            diff = max(float(np.abs(got[k] - want[k]).max()) for k in ("pooled_output", "sequence_output"))
            same_mask = bool(np.array_equal(got["padding_mask"], want["padding_mask"]))
            report[modality][f"batch_{batch}"] = {"max_abs_diff": diff, "padding_mask_equal": same_mask}
            if diff > SAVED_MODEL_TOLERANCE or not same_mask:
                raise ValueError(
                    f"The exported serve_{modality} differs from the Keras model by {diff:.3g} at "
                    f"batch size {batch} (tolerance {SAVED_MODEL_TOLERANCE:g}; masks equal: "
                    f"{same_mask}); nothing was published."
                )
    return report


def _count(samples, modality):
    return len(samples["audio"]["lengths"]) if modality == "audio" else len(samples[modality])


def _slice_samples(samples, modality, count):
    if modality == "audio":
        audio = samples["audio"]
        width = int(np.max(audio["lengths"][:count]))
        return {"audio": {"waveforms": audio["waveforms"][:count, :width], "lengths": audio["lengths"][:count]}}
    return {modality: samples[modality][:count]}


def _signature_inputs(modality, samples):
    import tensorflow as tf

    if modality == "text":
        return {"text": tf.constant([t.encode("utf-8") for t in samples["text"]], tf.string)}
    if modality == "image":
        return {"images": tf.constant(np.asarray(samples["image"], np.uint8))}
    return {"waveforms": tf.constant(samples["audio"]["waveforms"], tf.float32),
            "lengths": tf.constant(samples["audio"]["lengths"], tf.int32)}


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
        samples: real inputs for the parity checks (see `mmpretrain.export.samples`);
            default `default_samples(run)`.
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
    encoder_base = os.path.join(output, name)
    bases = {"encoder": encoder_base}
    if "text" in modalities:
        bases["text_preprocess"] = os.path.join(output, f"{name}_text_preprocess")
        bases["text_encoder"] = os.path.join(output, f"{name}_text_encoder")
    version = serving_layout.next_version(*bases.values()) if version is None else version
    for base in bases.values():
        serving_layout.check_free(base, version)
    if samples is None:
        from mmpretrain.export.samples import default_samples

        samples = default_samples(run)

    with ExitStack() as stack:
        staged = {role: os.path.join(stack.enter_context(serving_layout.staging_dir(base)), "model")
                  for role, base in bases.items()}
        log(f"writing the encoder SavedModel ({', '.join(modalities)})")
        config = write_encoder_saved_model(staged["encoder"], run, modalities)
        report = {"name": name, "version": version, "run_dir": os.path.abspath(os.fspath(run_dir)),
                  "modalities": list(modalities), "signatures": sorted(config["signatures"])}
        log("checking the reloaded SavedModel against Keras")
        report["saved_model_parity"] = saved_model_parity(staged["encoder"], run, modalities, samples)
        if "text" in modalities:
            from mmpretrain.export.text_hub_export import (
                write_text_encoder_saved_model,
                write_text_preprocess_saved_model,
            )

            log("writing the TF Hub text preprocessing and ids-only encoder SavedModels")
            write_text_preprocess_saved_model(staged["text_preprocess"], run)
            write_text_encoder_saved_model(staged["text_encoder"], run)
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
        order = [r for r in ("text_preprocess", "text_encoder", "encoder") if r in bases]
        paths = serving_layout.publish_all([(staged[r], bases[r], version) for r in order])
    published = dict(zip(order, paths))
    log(f"published version {version}: " + ", ".join(published.values()))
    return ExportResult(
        name=name,
        version=version,
        encoder_dir=published["encoder"],
        text_preprocess_dir=published.get("text_preprocess"),
        text_encoder_dir=published.get("text_encoder"),
        tflite_dir=os.path.join(published["encoder"], "assets.extra", "tflite") if tflite else None,
        report=report,
    )
