"""Scoring a model on held-out images: accuracy, loss, confusion matrix and per-class figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.sources import Split
from mnist_core.i18n import _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import resolve_device
from mnist_core.learning.pipeline import Pipeline

if TYPE_CHECKING:  # pandas only where a report is made: training itself never needs it
    import pandas as pd


@torch.no_grad()
def score(model, pipeline: Pipeline, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000):
    """(loss sum, correct count, probabilities) over device tensors, in eval mode."""
    model.eval()
    loss_sum, correct, probs = 0.0, 0, []
    for i in range(0, len(labels), batch_size):
        logits = pipeline.forward(model, pipeline.inputs(images[i : i + batch_size])).float()
        y = labels[i : i + batch_size]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        p = torch.softmax(logits, 1)
        correct += (p.argmax(1) == y).sum().item()
        probs.append(p.cpu())
    return loss_sum, correct, torch.cat(probs) if probs else torch.empty(0, 10)


@dataclass
class EvalReport:
    accuracy: float
    loss: float
    n: int
    confusion: np.ndarray  # (10, 10): rows = true class, columns = predicted class
    per_class: pd.DataFrame  # class, precision, recall, f1, support
    labels: np.ndarray  # true class per image
    predictions: np.ndarray  # predicted class per image
    confidence: np.ndarray  # probability of the predicted class
    probabilities: np.ndarray  # (n, 10)

    def most_confused(self, k: int = 5) -> pd.DataFrame:
        """The k (true, predicted) pairs the model mixes up most, off the diagonal."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        pairs = [
            (int(t), int(p), int(off[t, p])) for t, p in zip(*np.unravel_index(np.argsort(-off, axis=None), off.shape))
        ]
        import pandas as pd

        return pd.DataFrame([r for r in pairs if r[2] > 0][:k], columns=["true", "predicted", "count"])

    def mistakes(self, true: int | None = None, predicted: int | None = None) -> np.ndarray:
        """Indices of images with that true/predicted class (default: every mistake), least confident last."""
        mask = np.ones(self.n, bool) if true is not None and predicted is not None else self.labels != self.predictions
        if true is not None:
            mask &= self.labels == true
        if predicted is not None:
            mask &= self.predictions == predicted
        idx = np.flatnonzero(mask)
        return idx[np.argsort(-self.confidence[idx], kind="stable")]

    def summary(self) -> dict:
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n}


def evaluate(
    model: nn.Module,
    split: Split,
    config: TrainConfig,
    device: str | torch.device = "auto",
    classes: list[str] | None = None,
) -> EvalReport:
    """Score a model on a split with the normalisation it was trained with."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    device = resolve_device(device) if isinstance(device, str) else device
    pipeline = Pipeline(device, config)
    model = model.to(device)
    if len(split) == 0:
        raise ValueError(_("cannot evaluate on an empty split"))
    loss_sum, correct, probs = score(model, pipeline, split.images.to(device), split.labels.to(device))
    model.to("cpu")
    probs_np = probs.numpy()
    y_true, y_pred = split.labels.numpy(), probs_np.argmax(1)
    k = list(range(10))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=k, zero_division=0)
    import pandas as pd

    per_class = pd.DataFrame(
        {
            "class": classes or [str(i) for i in k],
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    )
    return EvalReport(
        correct / len(split),
        loss_sum / len(split),
        len(split),
        confusion_matrix(y_true, y_pred, labels=k),
        per_class,
        y_true,
        y_pred,
        probs_np.max(1),
        probs_np,
    )
