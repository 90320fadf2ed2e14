"""App reports: classification scores, and PNGs of a run (learning curve + confusion matrix on the
held-out test split) and of embeddings (first two principal components, coloured by class)."""

import os

import numpy as np


def confusion_matrix(labels, predictions, num_classes):
    """int [K, K]: row = true class, column = predicted class."""
    matrix = np.zeros([num_classes, num_classes], np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def classification_scores(labels, predictions, num_classes):
    """Accuracy, macro F1, per-class recall and the majority-class baseline."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    matrix = confusion_matrix(labels, predictions, num_classes)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix)
    recall = np.divide(hits, support, out=np.zeros(num_classes), where=support > 0)
    precision = np.divide(hits, predicted, out=np.zeros(num_classes), where=predicted > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    present = support > 0
    return {
        "accuracy": float(hits.sum() / max(len(labels), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "majority_baseline": float(support.max() / max(len(labels), 1)),
        "per_class_recall": [float(r) for r in recall],
        "confusion_matrix": matrix.tolist(),
    }


def write_report_png(path, history, matrix, class_names, title):
    """Two panels: loss/accuracy per epoch (train and validation) and the confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    k = len(class_names)
    fig, (curve, confusion) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    validated = history.get("validation_epochs") or list(epochs)

    def x_of(key):
        return validated[: len(history[key])] if key.startswith("val_") else epochs

    for key, style in (("loss", "-"), ("val_loss", "--")):
        if history.get(key):
            curve.plot(x_of(key), history[key], style, color="tab:red", label=key.replace("_", " "),
                       marker="." if key.startswith("val_") else None)
    curve.set_xlabel("epoch")
    curve.set_ylabel("loss", color="tab:red")
    accuracy = curve.twinx()
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        if history.get(key):
            accuracy.plot(x_of(key), history[key], style, color="tab:blue", label=key.replace("_", " "),
                          marker="." if key.startswith("val_") else None)
    accuracy.set_ylabel("accuracy", color="tab:blue")
    accuracy.set_ylim(0, 1)
    lines = curve.get_legend_handles_labels()
    more = accuracy.get_legend_handles_labels()
    curve.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    curve.set_title("learning curve")
    from matplotlib.ticker import MaxNLocator

    curve.xaxis.set_major_locator(MaxNLocator(integer=True))

    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    confusion.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(k)
    short = [str(c)[:12] for c in class_names]
    confusion.set_xticks(ticks, short, rotation=60 if k > 4 else 0, ha="right" if k > 4 else "center",
                         fontsize=7 if k > 10 else 9)
    confusion.set_yticks(ticks, short, fontsize=7 if k > 10 else 9)
    confusion.set_xlabel("predicted")
    confusion.set_ylabel("true")
    confusion.set_title("confusion matrix (test split)")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    confusion.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6 if k > 10 else 8,
                                   color="white" if shares[i, j] > 0.5 else "black")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_projection_png(path, vectors, labels, class_names, title):
    """Test embeddings projected on their first two principal components, coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centered = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    points = centered @ components[:2].T
    fig, axis = plt.subplots(figsize=(6, 5))
    for i, name in enumerate(class_names):
        chosen = labels == i
        axis.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, label=str(name))
    axis.set_xlabel("principal component 1")
    axis.set_ylabel("principal component 2")
    axis.legend(fontsize=8, markerscale=2)
    axis.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
