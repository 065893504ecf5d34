"""Reading one image: preprocessing + a forward pass, used by the Draw page and `predict`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnist_core.data.preprocess import to_input, to_mnist
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.models import predict_probabilities

UNSURE_BELOW = 0.6  # below this confidence the app says the model is unsure


@dataclass
class Prediction:
    digit: int | None  # None: no digit found in the image
    confidence: float
    probabilities: np.ndarray | None  # (10,)
    image28: np.ndarray | None  # what the model saw, uint8 28x28

    @property
    def unsure(self) -> bool:
        return self.digit is not None and self.confidence < UNSURE_BELOW

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities)[:k]
        return [(int(i), float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict:
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 6),
            "probabilities": None if self.probabilities is None else [round(float(p), 6) for p in self.probabilities],
        }


def predict_image(model: nn.Module, config: TrainConfig, image: np.ndarray) -> Prediction:
    """Any RGBA/RGB/grayscale image of a digit -> the model's reading of it."""
    digit28 = to_mnist(image)
    if digit28 is None:
        return Prediction(None, 0.0, None, None)
    # One 28x28 image is too little work to split: extra OpenMP threads only wait on each other, which made a
    # prediction many times slower on a busy CPU (docs/performance.md). Thread settings are per calling thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        probs = predict_probabilities(model, to_input(digit28, config.norm_mean, config.norm_std))[0].numpy()
    finally:
        torch.set_num_threads(threads)
    return Prediction(int(probs.argmax()), float(probs.max()), probs, digit28)
