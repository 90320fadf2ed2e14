"""ContrastiveAligner: one embedding space for text, images and speech on the shared trunk.

    model = ContrastiveAligner.from_run("runs/demo", audio_seconds=4.0)        # pretrained trunk
    model = ContrastiveAligner.from_run("runs/demo", from_scratch=True, seed=0)  # same graph, fresh
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    model.fit(model.triple_dataset(texts, images, clips, batch_size=64), epochs=10)
    model.embed(["grinning face"], "text")      # numpy [1, projection_dim], unit length

Architecture (CLIP's and VATT's shape on the project's one trunk): each modality runs through
its embedder and the SAME Transformer blocks (`sharing="full"`, or `"multiway"`: per-modality
feed-forward experts); the pooled output (mean over real tokens) goes through the modality's
own linear projection (`projection_dim`, no bias) and is scaled to unit length.

Loss over every pair of modalities present in a batch (text-image, text-audio, image-audio):

- `"contrastive"`: CLIP's symmetric InfoNCE: softmax cross-entropy over the batch in both
  directions, logits = exp(t) * cosine, the log scale t learned (initialised at log(1 / 0.07),
  capped at log(100));
- `"sigmoid"`: SigLIP's pairwise sigmoid loss, log scale initialised at log(10) and a learned
  bias at -5 (SigLIP's -10 is for batches of 32k); each of the B x B pairs is a binary
  positive/negative.

A batch is a dict modality -> that modality's preprocessed features (`{"token_ids",
"padding_mask"}`, `{"patches", "padding_mask"}`); a modality left out of a batch adds no term.
"""

import itertools

import keras
import numpy as np
import tensorflow as tf

import mmpretrain.backbone  # noqa: F401  (registers MultimodalBackbone for load_model)

LOSSES = ("contrastive", "sigmoid")
MAX_LOG_SCALE = float(np.log(100.0))
# SigLIP starts its bias at -10 for batches of 32k (prior p(match) ~ 1/B); batches here are tens.
INITIAL_SIGMOID_BIAS = -5.0


@keras.saving.register_keras_serializable(package="mmpretrain")
class MovingStandardization(keras.layers.Layer):
    """x -> (x - mean) / sqrt(var + eps) with per-feature moving averages of the training batches.

    A trunk's pooled vectors share a large common component (mean pooling of layer-normalised
    tokens), so at the start every pair is nearly collinear and the in-batch losses sit on a long
    plateau. Batch normalisation removes it but lets the examples of a batch see each other's
    statistics, which in-batch contrastive losses exploit (train loss 0.16 with inference-mode
    recall@1 0.14 on the tiny test trunk). Here the output always uses the moving averages (as
    DINO centres its targets), and training batches only update them afterwards."""

    def __init__(self, momentum=0.9, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        width = input_shape[-1]
        self.moving_mean = self.add_weight(shape=(width,), initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=(width,), initializer="ones", trainable=False,
                                               name="moving_variance")

    def call(self, x, training=None):
        x = tf.cast(x, tf.float32)
        out = (x - self.moving_mean) * tf.math.rsqrt(self.moving_variance + self.epsilon)
        if training:
            mean = tf.stop_gradient(tf.reduce_mean(x, axis=0))
            variance = tf.stop_gradient(tf.math.reduce_variance(x, axis=0))
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        return out

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, epsilon=self.epsilon)


@keras.saving.register_keras_serializable(package="mmpretrain")
class ContrastiveAligner(keras.Model):
    """Projection heads + a learned temperature on a `MultimodalBackbone` (see the module docstring).

    Args:
        backbone: a `MultimodalBackbone` with at least two of the modalities in `preprocessor_configs`.
        preprocessor_configs: modality -> its preprocessor's `get_config()` (the modalities aligned).
        projection_dim: width of the shared space.
        loss: "contrastive" (InfoNCE) or "sigmoid" (SigLIP).
    """

    def __init__(self, backbone, preprocessor_configs, projection_dim=64, loss="contrastive", **kwargs):
        super().__init__(**kwargs)
        from mmpretrain.tasks.run_backbone import make_preprocessors

        if loss not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; accepted: {list(LOSSES)}.")
        modalities = list(preprocessor_configs)
        if len(modalities) < 2:
            raise ValueError(f"Alignment needs at least two modalities; received {modalities}.")
        missing = [m for m in modalities if m not in backbone.embedders]
        if missing:
            raise ValueError(f"The backbone has no {missing} modality; it was built with {sorted(backbone.embedders)}.")
        if isinstance(projection_dim, bool) or not isinstance(projection_dim, int) or projection_dim < 2:
            raise ValueError(f"projection_dim must be an integer >= 2; received {projection_dim!r}.")
        self.backbone = backbone
        self.modalities = tuple(modalities)
        self.preprocessor_configs = {m: dict(c) for m, c in preprocessor_configs.items()}
        self.preprocessors = make_preprocessors(self.preprocessor_configs)
        self.projection_dim = int(projection_dim)
        self.loss_name = loss
        # === Layers ===
        self.projections = {
            m: keras.layers.Dense(self.projection_dim, use_bias=False, name=f"{m}_projection") for m in self.modalities
        }
        # Standardised pooled outputs (see `MovingStandardization`).
        self.pooled_norms = {m: MovingStandardization(name=f"{m}_pooled_norm") for m in self.modalities}
        for layer in list(self.projections.values()) + list(self.pooled_norms.values()):
            layer.build((None, backbone.hidden_dim))
        initial_scale, initial_bias = (np.log(1 / 0.07), 0.0) if loss == "contrastive" else (np.log(10.0), INITIAL_SIGMOID_BIAS)
        self.log_scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(initial_scale),
                                         name="log_scale")
        self.logit_bias = self.add_weight(shape=(), initializer=keras.initializers.Constant(initial_bias),
                                          name="logit_bias", trainable=loss == "sigmoid")
        self.built = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_run(cls, run, modalities=None, from_scratch=False, seed=0, audio_seconds=None, **kwargs):
        """An aligner on a finished pretraining run's trunk (a path or `LoadedRun`; default: all of
        its modalities), or on the same architecture freshly initialised (`from_scratch`, seeded)."""
        from mmpretrain.tasks.run_backbone import backbone_from_run

        backbone, configs = backbone_from_run(run, modalities, audio_seconds=audio_seconds, from_scratch=from_scratch,
                                              seed=seed, name="aligned_encoder", task="Cross-modal alignment")
        keras.utils.set_random_seed(int(seed) + 1)
        return cls(backbone, configs, **kwargs)

    # ------------------------------------------------------------------ the network
    def embed_features(self, features, modality, training=None):
        """Preprocessed features of one modality -> unit vectors [B, projection_dim]."""
        pooled = self.backbone(features, modality=modality, training=training)["pooled_output"]
        pooled = self.pooled_norms[modality](pooled, training=training)
        projected = tf.cast(self.projections[modality](pooled), tf.float32)
        return tf.math.l2_normalize(projected, axis=-1)

    def call(self, inputs, training=None):
        """dict modality -> features => dict modality -> unit vectors (the modalities present)."""
        unknown = [m for m in inputs if m not in self.modalities]
        if unknown:
            raise ValueError(f"This aligner embeds {list(self.modalities)}; received {unknown}.")
        return {m: self.embed_features(inputs[m], m, training=training) for m in self.modalities if m in inputs}

    @property
    def scale(self):
        return tf.exp(tf.minimum(tf.cast(self.log_scale, tf.float32), MAX_LOG_SCALE))

    def pair_loss(self, a, b):
        """The loss between matching rows of unit vectors a [B, K] and b [B, K]."""
        logits = self.scale * tf.matmul(a, b, transpose_b=True)  # [B, B]
        if self.loss_name == "contrastive":
            labels = tf.range(tf.shape(a)[0])
            forward = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            backward = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
            return 0.5 * (tf.reduce_mean(forward) + tf.reduce_mean(backward))
        batch = tf.shape(a)[0]
        signs = 2.0 * tf.eye(batch) - 1.0
        pairwise = -tf.math.log_sigmoid(signs * (logits + tf.cast(self.logit_bias, tf.float32)))
        return tf.reduce_sum(pairwise) / tf.cast(batch, tf.float32)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The mean of the pair losses over every pair of modalities in the batch."""
        names = [m for m in self.modalities if m in y_pred]
        losses = [self.pair_loss(y_pred[a], y_pred[b]) for a, b in itertools.combinations(names, 2)]
        if not losses:
            raise ValueError(f"A training batch needs at least two modalities; it has {names}.")
        return tf.add_n(losses) / float(len(losses))

    # ------------------------------------------------------------------ data
    def featurize(self, values, modality):
        """Raw inputs of one modality (strings; uint8 images [B, H, W, C]; (waveforms [B, T], lengths
        [B])) -> its features dict."""
        preprocessor = self.preprocessors[modality]
        if modality == "audio":
            waveforms, lengths = values
            return preprocessor(tf.convert_to_tensor(waveforms, tf.float32), tf.convert_to_tensor(lengths, tf.int32))
        return preprocessor(values)

    def feature_arrays(self, values, modality, batch_size=256):
        """Raw inputs of one modality (a list of strings / uint8 images / float32 clips) -> numpy
        features, padded to the preprocessor's fixed size so batches can be sliced."""
        from mmpretrain.modalities.audio_io import pad_batch

        chunks = []
        for start in range(0, len(values), batch_size):
            part = values[start:start + batch_size]
            if modality == "audio":
                batch = pad_batch(list(part), self.preprocessors["audio"].max_samples)
                waves = np.zeros((len(part), self.preprocessors["audio"].max_samples), np.float32)
                waves[:, : batch["waveforms"].shape[1]] = batch["waveforms"]
                features = self.featurize((waves, batch["lengths"]), modality)
            elif modality == "text":
                features = self.featurize(tf.constant(list(part)), modality)
            else:
                features = self.featurize(np.asarray(part, np.uint8), modality)
            chunks.append({k: v.numpy() for k, v in features.items()})
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def triple_dataset(self, features, batch_size=64, shuffle_seed=None):
        """tf.data batches of {modality: features} from parallel feature arrays (`feature_arrays`
        of each modality, one row per example). The last partial batch is dropped: in-batch
        negatives need a full batch."""
        sizes = {m: len(next(iter(f.values()))) for m, f in features.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"The modalities' examples differ in number: {sizes}.")
        data = tf.data.Dataset.from_tensor_slices(features)
        if shuffle_seed is not None:
            data = data.shuffle(next(iter(sizes.values())), seed=int(shuffle_seed), reshuffle_each_iteration=True)
        return data.batch(int(batch_size), drop_remainder=True).prefetch(2)

    def embed(self, values, modality, batch_size=256):
        """Raw inputs of one modality -> numpy unit vectors [N, projection_dim]."""
        if modality not in self.modalities:
            raise ValueError(f"This aligner embeds {list(self.modalities)}; received modality {modality!r}.")
        return self.embed_arrays(self.feature_arrays(values, modality, batch_size), modality, batch_size)

    def embed_arrays(self, features, modality, batch_size=256):
        """Feature arrays of one modality (`feature_arrays`) -> numpy unit vectors [N, projection_dim]."""
        rows = []
        total = len(next(iter(features.values())))
        for start in range(0, total, batch_size):
            part = {k: tf.constant(v[start:start + batch_size]) for k, v in features.items()}
            rows.append(self.embed_features(part, modality, training=False).numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self.projection_dim), np.float32)

    # ------------------------------------------------------------------ saving
    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "preprocessor_configs": self.preprocessor_configs, "projection_dim": self.projection_dim,
                "loss": self.loss_name, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def retrieval_metrics(queries, keys, ks=(1, 5, 10)):
    """Recall@k and median rank of matching rows (query i's match is key i) under cosine similarity:
    unit vectors queries [N, K], keys [N, K] -> {"R@1": ..., "median_rank": ...} (rank 1 = first)."""
    queries, keys = np.asarray(queries, np.float32), np.asarray(keys, np.float32)
    if queries.shape != keys.shape or queries.ndim != 2:
        raise ValueError(f"queries and keys must be matching [N, K] arrays; received {queries.shape} and {keys.shape}.")
    similarity = queries @ keys.T
    true = np.diag(similarity)[:, None]
    ranks = 1 + np.sum(similarity > true, axis=1)  # ties count in the query's favour
    out = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["median_rank"] = float(np.median(ranks))
    return out


def zero_shot_predictions(vectors, class_vectors):
    """Unit vectors [N, K] and per-class unit vectors [C, K] -> (predicted class [N], softmax-free
    cosine scores [N, C])."""
    scores = np.asarray(vectors, np.float32) @ np.asarray(class_vectors, np.float32).T
    return np.argmax(scores, axis=1), scores
