"""The demo's closing tables: test accuracy pretrained / scratch / classical per app and label
fraction, and balanced accuracy on the extra test splits (where the models were not trained)."""

DEMO_APPS = ("sentiment", "image_classification", "keyword_spotting")


def classical_of(rows, app, fraction):
    """(test accuracy or None, why not) of the classical baseline of `app` at `fraction`."""
    baseline = next((r["classical_baseline"] for r in rows if r["app"] == app and r["label_fraction"] == fraction
                     and r.get("classical_baseline")), None)
    if baseline is None:
        return None, "not fitted"
    return baseline["test_accuracy"], baseline["reason"]


def _cell(value, width, missing="-"):
    return f"{value:>{width}.4f}" if value is not None else f"{missing:>{width}}"


def summary_table(rows):
    """pretrained / scratch / classical test accuracy per app and label fraction; gain is
    pretrained - scratch. A baseline that could not be fitted shows n/a and why."""
    lines = [f"{'app':<22}{'labels':>7}{'pretrained':>12}{'scratch':>10}{'classical':>11}{'gain':>9}"]
    for app in DEMO_APPS:
        for fraction in (0.1, 1.0):
            acc = {r["initialization"]: r["test_accuracy"] for r in rows
                   if r["app"] == app and r["label_fraction"] == fraction}
            classical, why = classical_of(rows, app, fraction)
            if not acc and why == "not fitted":
                continue
            gain = acc["pretrained"] - acc["scratch"] if "pretrained" in acc and "scratch" in acc else None
            line = (f"{app:<22}{fraction:>7.0%}{_cell(acc.get('pretrained'), 12)}{_cell(acc.get('scratch'), 10)}"
                    f"{_cell(classical, 11, 'n/a')}{'-' if gain is None else f'{gain:+.4f}':>9}")
            lines.append(line + ("" if classical is not None else f"  (classical: {why})"))
    return "\n".join(lines)


def generalization_table(rows):
    """Balanced accuracy on the extra test splits (another domain, an unheard synthesizer):
    the same models and the classical baseline, scored where they were not trained."""
    lines = []
    for app in DEMO_APPS:
        for fraction in (0.1, 1.0):
            runs = [r for r in rows if r["app"] == app and r["label_fraction"] == fraction]
            splits = sorted({s for r in runs for s in r.get("generalization") or {}})
            for split in splits:
                cells = {r["initialization"]: r["generalization"].get(split, {}).get("balanced_accuracy")
                         for r in runs if r.get("generalization")}
                baseline = next((r["classical_baseline"] for r in runs if r.get("classical_baseline")), {})
                classical = (baseline.get("generalization") or {}).get(split, {}).get("balanced_accuracy")
                lines.append(f"{app:<22}{split:>13}{fraction:>7.0%}{_cell(cells.get('pretrained'), 12)}"
                             f"{_cell(cells.get('scratch'), 10)}{_cell(classical, 11, 'n/a')}")
    if not lines:
        return ""
    header = f"{'app':<22}{'scored on':>13}{'labels':>7}{'pretrained':>12}{'scratch':>10}{'classical':>11}"
    return "balanced accuracy where the models were not trained:\n" + "\n".join([header, *lines])
