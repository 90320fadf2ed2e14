"""Loads an export in a fresh process that imports only TensorFlow, tf.text and TF Hub.

    python tests/workers/export_fresh_load.py ENCODER_DIR PREPROCESS_DIR TEXT_ENCODER_DIR IN.npz OUT.npz

IN.npz holds `text` (bytes), `images` (uint8 [B, H, W, C]), `waveforms` / `lengths`. OUT.npz gets
every signature's outputs as `<signature>/<output>`, the attached functions' pooled outputs as
`call/<signature>`, the TF Hub text pair's outputs as `hub_text/<output>`, and `info` (JSON):
the assets' sample rate and image size, and whether mmpretrain was ever imported.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_hub as hub  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (the text graph holds tf.text ops)


def main(encoder_dir, preprocess_dir, text_encoder_dir, inputs_path, out_path):
    data = np.load(inputs_path, allow_pickle=True)
    texts = tf.constant(list(data["text"]), tf.string)
    feeds = {
        "serve_text": {"text": texts},
        "serve_image": {"images": tf.constant(data["images"])},
        "serve_audio": {"waveforms": tf.constant(data["waveforms"]), "lengths": tf.constant(data["lengths"])},
    }
    encoder = hub.load(encoder_dir)
    results = {}
    for name, feed in feeds.items():
        for key, value in encoder.signatures[name](**feed).items():
            results[f"{name}/{key}"] = value.numpy()
    results["call/serve_text"] = encoder.serve_text(texts)["pooled_output"].numpy()
    results["call/serve_image"] = encoder.serve_image(feeds["serve_image"]["images"])["pooled_output"].numpy()
    results["call/serve_audio"] = encoder.serve_audio(feeds["serve_audio"])["pooled_output"].numpy()

    preprocess = hub.load(preprocess_dir)
    text_encoder = hub.load(text_encoder_dir)
    for key, value in text_encoder(preprocess(texts)).items():
        results[f"hub_text/{key}"] = value.numpy()

    with open(encoder.config_file.asset_path.numpy().decode(), encoding="utf-8") as f:
        config = json.load(f)
    vocabulary = open(encoder.vocab_file.asset_path.numpy().decode(), encoding="utf-8").read().split()
    info = {
        "sample_rate": config["sample_rate"],
        "image_size": config["image_size"],
        "vocabulary_size": len(vocabulary),
        "mmpretrain_imported": any(m == "mmpretrain" or m.startswith("mmpretrain.") for m in sys.modules),
        "trainable_variables": len(encoder.trainable_variables),
    }
    results["info"] = np.array(json.dumps(info))
    tmp = out_path + ".tmp.npz"
    np.savez(tmp, **results)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
