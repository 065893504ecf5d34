"""Placeholder until the code generator lands (branch script)."""

from mnist_core.learning.config import TrainConfig


def show_code(config: TrainConfig, key: str) -> None:
    pass
