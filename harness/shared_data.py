"""The real MNIST files beside a checkout (../shared/data, or $DIGIT_LAB_SHARED_DATA): a new user's clone has none,
so whatever needs them skips or falls back, with the reason."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DIGIT_LAB_SHARED_DATA", REPO.parent / "shared" / "data"))
TEST_SET_RAW = SHARED_DATA / "MNIST" / "raw"  # the real 10,000-image MNIST test set
FULL_RAW = SHARED_DATA / "mnist-full" / "MNIST" / "raw"  # full MNIST: 60,000 training and 10,000 test images


def has_test_set() -> bool:
    return (TEST_SET_RAW / "t10k-images-idx3-ubyte.gz").is_file()
