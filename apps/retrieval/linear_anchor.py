"""The linear anchor for cross-modal retrieval: CCA between classical features of two modalities.

    anchor = cca_anchor(train_a, train_b, validation_a, validation_b)   # features per modality
    qa, qb = anchor.transform(test_a, test_b)                            # unit vectors in one space

Features (fitted on the training split only):

- image  the pixels / 255 of the renders the app makes (32 x 32 RGB at the demo trunk's size: the
         anchor keeps the colour that a grayscale trunk's input loses), PCA to 64 dimensions
- text   character 2-4-gram TF-IDF (within word boundaries) of the caption, SVD to 64 dimensions
- audio  log-mel statistics (`apps.common.classical.log_mel_statistics`), standardised, PCA to 64

then scikit-learn's CCA; its number of components is picked from `COMPONENTS` by the mean
validation recall@1/5/10 of the pair (never on the test split).
"""

import dataclasses

import numpy as np

COMPONENTS = (4, 8, 16, 32)
REDUCED = 64


def classical_features(modality, train, *others, max_audio_seconds=None):
    """(train features, [other features...]) of one modality, every transform fitted on `train`."""
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import StandardScaler

    if modality == "text":
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
        x = vectorizer.fit_transform(list(train))
        reducer = TruncatedSVD(min(REDUCED, x.shape[1] - 1), random_state=0)
        return reducer.fit_transform(x), [reducer.transform(vectorizer.transform(list(o))) for o in others]
    if modality == "image":
        def pixels(images):
            images = np.asarray(images)
            return images.reshape(len(images), -1).astype(np.float32) / 255.0

        reducer = PCA(min(REDUCED, len(train) - 1), random_state=0)
        return reducer.fit_transform(pixels(train)), [reducer.transform(pixels(o)) for o in others]
    if modality == "audio":
        from apps.common.classical import log_mel_statistics

        scaler = StandardScaler()
        reducer = PCA(min(REDUCED, len(train) - 1), random_state=0)
        x = reducer.fit_transform(scaler.fit_transform(log_mel_statistics(train, max_audio_seconds)))
        return x, [reducer.transform(scaler.transform(log_mel_statistics(o, max_audio_seconds))) for o in others]
    raise ValueError(f"No classical features for modality {modality!r}; accepted: text, image, audio.")


@dataclasses.dataclass
class CCAAnchor:
    cca: object
    components: int
    validation_score: float

    def transform(self, a, b):
        """Both modalities' features -> unit vectors in the shared CCA space."""
        ua, ub = self.cca.transform(a, b)
        return _unit(ua), _unit(ub)


def _unit(x):
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mean_recall(a, b):
    from mmpretrain.tasks.contrastive_aligner import retrieval_metrics

    both = [retrieval_metrics(a, b), retrieval_metrics(b, a)]
    return float(np.mean([m[f"R@{k}"] for m in both for k in (1, 5, 10)]))


def cca_anchor(train_a, train_b, validation_a, validation_b, components=COMPONENTS):
    """CCA fitted on the training pairs; the number of components picked on validation."""
    import warnings

    from sklearn.cross_decomposition import CCA

    best = None
    for n in components:
        n = min(n, train_a.shape[1], train_b.shape[1])
        cca = CCA(n_components=n, max_iter=1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings on the larger component counts
            cca.fit(train_a, train_b)
        anchor = CCAAnchor(cca, n, 0.0)
        anchor.validation_score = mean_recall(*anchor.transform(validation_a, validation_b))
        if best is None or anchor.validation_score > best.validation_score:
            best = anchor
    return best
