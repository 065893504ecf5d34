"""Pure helpers behind the Evaluate page: tables, labels and image tiles built from an EvalReport.

Nothing here draws or imports Streamlit; the page turns these values into widgets and charts, and the
same functions serve notebooks and tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checkpoints import Checkpoint, DatasetRecord
from .evaluation import EvalReport
from .models import MODELS

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
        return "warning", (
            f"This model was trained on **{trained.label}**, but the sidebar dataset is "
            f"**{source_title}**: the scores below show how it copes with images it was not "
            f"trained for."
        )
    trained_split = trained.split
    if trained_on != source_key or trained_split not in ("train", "test", "all"):
        return None
    if split == "test" and trained_split == "all":
        return "info", (
            "The model was trained on all of this dataset (with 10% held back at random), so the "
            "test images include ones it learned from: the score is optimistic."
        )
    if split == "all" or trained_split in ("all", split):
        return "info", (
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
    hover = [
        f"true {classes[t]}, predicted {classes[p]}: {int(confusion[t, p])} images"
        + (f" ({z[t, p]:.1f}% of the {classes[t]}s)" if normalised else "")
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
        columns={"class": "Class", "precision": "Precision %", "recall": "Recall %", "f1": "F1 %", "support": "Images"}
    )


def confused_pairs(report: EvalReport, classes: list[str], k: int = 8) -> pd.DataFrame:
    """The pairs the model mixes up most, in words a learner reads: 'true 4, read as 9: 12 times'."""
    pairs = report.most_confused(k)
    support = report.confusion.sum(axis=1)
    return pd.DataFrame(
        {
            "True": [classes[t] for t in pairs["true"]],
            "Read as": [classes[p] for p in pairs["predicted"]],
            "Times": pairs["count"].astype(int),
            "% of that class": [round(100 * c / max(support[t], 1), 1) for t, c in zip(pairs["true"], pairs["count"])],
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
    A caption reads "true 4 → 9 · 96%": really a 4, read as a 9, with 96% confidence.
    """
    idx = report.mistakes(true, predicted)
    captions = [
        f"true {classes[report.labels[i]]} → {classes[report.predictions[i]]} · {_percent(report.confidence[i])}"
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


def comparison_table(checkpoints: list[Checkpoint]) -> pd.DataFrame:
    """Every saved model side by side: what it is, how long it trained, what it scored and on what."""
    rows = []
    for c in checkpoints:
        r = c.record
        rows.append(
            {
                "Name": c.name,
                "Architecture": MODELS[r.architecture].title,  # a record names a known architecture, or is not listed
                "Epochs": r.config.epochs if r.metrics.epochs_done is None else r.metrics.epochs_done,
                "Accuracy %": None if r.metrics.accuracy is None else round(100 * r.metrics.accuracy, 2),
                "Training time (s)": r.metrics.seconds,
                "Dataset": r.dataset.label,
                "Saved": (r.created or "").replace("T", " "),
                "Run id": c.run_id,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["Name", "Architecture", "Epochs", "Accuracy %", "Training time (s)", "Dataset", "Saved", "Run id"],
    )
