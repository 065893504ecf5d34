"""The precision choice: bf16 where the hardware multiplies it, float32 elsewhere, DIGIT_LAB_BF16 to force either,
and the reason said in words the sidebar and `bench` show."""

from __future__ import annotations

import math

import pytest
import torch

from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import cpu_features, cpu_has_bf16, describe_precision, use_bf16
from mnist_core.learning.pipeline import Pipeline
from mnist_core.learning.training import train

CPU = torch.device("cpu")


def test_without_the_setting_the_cpu_features_decide(monkeypatch):
    monkeypatch.delenv("DIGIT_LAB_BF16", raising=False)
    assert use_bf16(CPU) == cpu_has_bf16() == bool({"avx512_bf16", "amx_bf16"} & set(cpu_features()))
    words = describe_precision(CPU)
    if cpu_has_bf16():
        assert words.startswith("bfloat16 (this CPU has ")
    else:
        assert words == "float32 (this CPU has neither AVX-512 BF16 nor AMX)"


@pytest.mark.parametrize(("value", "bf16"), [("1", True), ("0", False), (" 1 ", True)])
def test_the_setting_forces_either_and_says_so(monkeypatch, value, bf16):
    monkeypatch.setenv("DIGIT_LAB_BF16", value)
    assert use_bf16(CPU) is bf16 and Pipeline(CPU, TrainConfig()).amp is bf16
    assert describe_precision(CPU) == ("bfloat16" if bf16 else "float32") + " (set by DIGIT_LAB_BF16)"


def test_any_other_value_leaves_it_to_the_hardware(monkeypatch):
    monkeypatch.setenv("DIGIT_LAB_BF16", "yes")
    assert use_bf16(CPU) == cpu_has_bf16() and "DIGIT_LAB_BF16" not in describe_precision(CPU)


def test_a_run_forced_to_bf16_on_the_cpu_still_learns(monkeypatch, sample):
    monkeypatch.setenv("DIGIT_LAB_BF16", "1")
    config = TrainConfig(model="mlp-64x3", epochs=2, batch_size=32, lr=3e-3, optimizer="adam", scheduler="none")
    config.train_size, config.val_size, config.augment, config.cpu_threads, config.device = 512, 500, False, 1, "cpu"
    result = train(config, sample.train, sample.test)
    accuracies = [e.val_acc for e in result.history if e.kind == "epoch"]
    assert all(math.isfinite(e.loss) for e in result.history if e.kind == "step")
    assert accuracies[0] < 0.2 and accuracies[-1] > 0.6  # from chance (~10%) to ~75% here, in bf16
