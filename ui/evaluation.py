"""Pure helpers behind the Evaluate page: tables, labels and image tiles built from an EvalReport.

Nothing here draws or imports Streamlit; the page turns these values into widgets and charts, and the
same functions serve notebooks and tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mnist_core.i18n import _
from mnist_core.learning.evaluation import EvalReport
from mnist_core.learning.models import MODELS
from mnist_core.store.checkpoints import Checkpoint
from mnist_core.store.records import DatasetRecord

GALLERY_LIMIT = 48  # images shown at once; more would make the page slow to scroll and to send


def report_key(ckpt: Checkpoint, dataset_key: str, split: str) -> tuple[str, str, str, str]:
    """What an evaluation depends on: the exact checkpoint (folder + creation time), the data and the split."""
    return str(ckpt.path), ckpt.record.created or "", dataset_key, split


def checkpoint_label(ckpt: Checkpoint) -> str:
    """One line for a model picker: its name and when it was made."""
    created = (ckpt.record.created or "").replace("T", " ")[:16]
    return f"{ckpt.name} · {created}" if created else ckpt.name


def dataset_note(trained: DatasetRecord, source_key: str, source_title: str, split: str) -> tuple[str, str] | None:
    """('warning' | 'info', text) when the numbers need a caveat about the data, else None.

    A model trained on another dataset than the one chosen is scored on images it was never meant for;
    a model scored on images it trained on looks better than it is.
    """
    trained_on = trained.source
    if trained_on and trained_on != source_key:
        return "warning", _(
            "This model was trained on **{trained}**, but the sidebar dataset is "
            "**{chosen}**: the scores below show how it copes with images it was not "
            "trained for."
        ).format(trained=_(trained.label), chosen=_(source_title))
    trained_split = trained.split
    if trained_on != source_key or trained_split not in ("train", "test", "all"):
        return None
    if split == "test" and trained_split == "all":
        return "info", _(
            "The model was trained on all of this dataset (with 10% held back at random), so the "
            "test images include ones it learned from: the score is optimistic."
        )
    if split == "all" or trained_split in ("all", split):
        return "info", _(
            "The model learned from these images during training, so this score is optimistic. "
            "Pick **test** for an honest measure."
        )
    return None


def row_percent(confusion: np.ndarray) -> np.ndarray:
    """Each row (true class) as percentages of that class's images; empty rows stay 0."""
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion * 100.0, totals, out=np.zeros(confusion.shape, float), where=totals > 0)


def confusion_cells(confusion: np.ndarray, classes: list[str], normalised: bool = False) -> dict:
    """What a confusion-matrix chart draws: values, cell texts, and one (x, y, hover) per cell for clicks."""
    z = row_percent(confusion) if normalised else confusion
    text = [[f"{v:.1f}" if normalised else f"{int(v)}" for v in row] for row in z]
    n = len(classes)
    xs = [classes[p] for t in range(n) for p in range(n)]
    ys = [classes[t] for t in range(n) for p in range(n)]
    if normalised:
        line = _("true {true}, predicted {predicted}: {n} images ({percent:.1f}% of the {true}s)")
    else:
        line = _("true {true}, predicted {predicted}: {n} images")
    hover = [
        line.format(true=classes[t], predicted=classes[p], n=int(confusion[t, p]), percent=z[t, p])
        for t in range(n)
        for p in range(n)
    ]
    return {"z": z, "text": text, "x": xs, "y": ys, "hover": hover}


def per_class_table(report: EvalReport) -> pd.DataFrame:
    """Precision, recall and F1 per class as percentages, with the number of images of each class."""
    t = report.per_class.copy()
    for col in ("precision", "recall", "f1"):
        t[col] = (t[col] * 100).round(1)
    return t.rename(
        columns={
            "class": _("Class"),
            "precision": _("Precision %"),
            "recall": _("Recall %"),
            "f1": _("F1 %"),
            "support": _("Images"),
        }
    )


def confused_pairs(report: EvalReport, classes: list[str], k: int = 8) -> pd.DataFrame:
    """The pairs the model mixes up most, in words a learner reads: 'true 4, read as 9: 12 times'."""
    pairs = report.most_confused(k)
    support = report.confusion.sum(axis=1)
    return pd.DataFrame(
        {
            _("True"): [classes[t] for t in pairs["true"]],
            _("Read as"): [classes[p] for p in pairs["predicted"]],
            _("Times"): pairs["count"].astype(int),
            _("% of that class"): [
                round(100 * c / max(support[t], 1), 1) for t, c in zip(pairs["true"], pairs["count"])
            ],
        }
    )


def gallery(
    report: EvalReport,
    classes: list[str],
    true: int | None = None,
    predicted: int | None = None,
    limit: int = GALLERY_LIMIT,
) -> tuple[np.ndarray, list[str], int]:
    """(indices to show, one caption per image, how many match in all) for a (true, predicted) choice.

    No choice = every mistake; the most confident mistakes come first, as they are the most telling.
    A caption reads "true 4 → 9 · 96% ✗": really a 4, read as a 9, with 96% confidence, wrong (a mark, not only a
    colour, says right or wrong).
    """
    idx = report.mistakes(true, predicted)
    line = _("true {true} → {predicted} · {confidence}")
    captions = [
        line.format(
            true=classes[report.labels[i]],
            predicted=classes[report.predictions[i]],
            confidence=_percent(report.confidence[i]),
        )
        + (" ✓" if report.labels[i] == report.predictions[i] else " ✗")
        for i in idx[:limit]
    ]
    return idx[:limit], captions, len(idx)


def _percent(p: float) -> str:
    return f"{p:.0%}" if p < 0.995 else ">99%"  # "100% sure" of a wrong answer would be misleading


def enlarge(images: np.ndarray, factor: int = 4, margin: int = 6) -> list[np.ndarray]:
    """uint8 (N, 28, 28) -> crisp (28*factor)^2 tiles (nearest neighbour, no browser blur) in a white margin,
    so that tiles shown side by side do not merge into one black strip."""
    block = np.ones((factor, factor), dtype=np.uint8)
    return [np.pad(np.kron(img, block), margin, constant_values=255) for img in images]


def pair_from_selection(selection: dict | None, classes: list[str]) -> tuple[int, int] | None:
    """(true, predicted) class indices of the confusion-matrix cell a user clicked, if any."""
    points = ((selection or {}).get("selection") or {}).get("points") or []
    if not points:
        return None
    x, y = points[0].get("x"), points[0].get("y")
    names = [str(c) for c in classes]
    if str(x) in names and str(y) in names:
        return names.index(str(y)), names.index(str(x))
    return None


def made_by(checkpoint: Checkpoint, viewer: str = "") -> str:
    """Who made a model, as the person with browser id `viewer` reads it: "you", the name its maker typed, or
    "someone" (a maker who typed no name); "" for a model without a maker (the command line, older models)."""
    owner = checkpoint.record.owner
    if owner is None or not owner.id:
        return ""
    if viewer and owner.id == viewer:
        return _("you")
    return owner.name or _("someone")


def comparison_table(checkpoints: list[Checkpoint], viewer: str = "") -> pd.DataFrame:
    """Every saved model side by side: what it is, who made it (as `viewer`, a browser id, reads it), how long it
    trained, what it scored and on what."""
    columns = [
        _("Name"),
        _("Made by"),
        _("Architecture"),
        _("Epochs"),
        _("Accuracy %"),
        _("Training time (s)"),
        _("Dataset"),
        _("Saved"),
        _("Run id"),
    ]
    rows = []
    for c in checkpoints:
        r = c.record
        values = (
            c.name,
            made_by(c, viewer),
            _(MODELS[r.architecture].title),  # a record names a known architecture, or is not listed
            r.config.epochs if r.metrics.epochs_done is None else r.metrics.epochs_done,
            None if r.metrics.accuracy is None else round(100 * r.metrics.accuracy, 2),
            r.metrics.seconds,
            _(r.dataset.label),  # a dataset's title, translated when it is one of the app's own
            (r.created or "").replace("T", " "),
            c.run_id,
        )
        rows.append(dict(zip(columns, values)))
    return pd.DataFrame(rows, columns=columns)
