"""The fastest public MNIST recipe we know, as a yardstick: tuomaso/train_mnist_fast's final notebook (99.04% in
0.76 s of training on a laptop GPU), written here from its README's description, not copied from its code.

From PyTorch's MNIST example it keeps Normalize(0.1307, 0.3081) and the two convolutions, and it changes, in its
README's words: a 2x2 max pool after each convolution, put before the ReLU; no dropout; convolution widths 24 and
32, the first with a 5x5 kernel; a fully connected layer of 256; the whole data set on the device at once; batches
of 256; Adam with a learning rate of 0.01 and betas (0.7, 0.9) under a one-cycle schedule; one epoch. Choices its
README leaves open, taken from torch's defaults: OneCycleLR's own warm-up share and annealing, no padding, and a
fresh shuffle of the training set. The engine's own loop is not used, so nothing of Digit Lab's speeds it up.

    .venv/bin/python benchmarks/peer_recipe.py [--seeds 5] [--data DIR]   (DIR/MNIST/raw holds the idx files)

Prints each seed's test accuracy and training time, then their medians as one JSON line. `bench` runs it beside
the fast recipe (bench_measure.measure_peer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_core.data.sources import Split, subsample  # noqa: E402

MEAN, STD = 0.1307, 0.3081
BATCH, LR, BETAS, EPOCHS = 256, 0.01, (0.7, 0.9), 1


class PeerNet(nn.Module):
    """28 -> conv5 24 (24) -> pool (12) -> conv3 32 (10) -> pool (5) -> 800 -> 256 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, 5)
        self.conv2 = nn.Conv2d(24, 32, 3)
        self.fc1 = nn.Linear(32 * 5 * 5, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


@dataclass
class PeerRun:
    seed: int
    accuracy: float
    train_s: float


def _prepared(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    return ((images.float() / 255.0 - MEAN) / STD).unsqueeze(1).to(device)


def run(train: Split, test: Split, seed: int, device: torch.device | None = None, train_size: int = 0) -> PeerRun:
    """One seed: train on `train` (or `train_size` of its images) for one epoch, score `test`; the clock runs only
    while training."""
    device = device or torch.device("cpu")
    train = subsample(train, train_size, seed)
    torch.manual_seed(seed)
    x, y = _prepared(train.images, device), train.labels.to(device)
    x_test, y_test = _prepared(test.images, device), test.labels.to(device)
    model = PeerNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS)
    steps = EPOCHS * ((len(x) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.train()
    for _epoch in range(EPOCHS):
        order = torch.randperm(len(x), device=device)
        for first in range(0, len(x), BATCH):
            batch = order[first : first + BATCH]
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        correct = sum(
            int((model(x_test[i : i + 1000]).argmax(1) == y_test[i : i + 1000]).sum())
            for i in range(0, len(x_test), 1000)
        )
    return PeerRun(seed, round(correct / len(x_test), 4), round(seconds, 2))


def medians(runs: list[PeerRun]) -> dict:
    accuracies = [r.accuracy for r in runs]
    return {
        "recipe": "tuomaso/train_mnist_fast (final, from its README)",
        "seeds": [r.seed for r in runs],
        "median_accuracy": statistics.median(accuracies),
        "accuracy_range": [min(accuracies), max(accuracies)],
        "median_train_s": statistics.median(r.train_s for r in runs),
        "runs": [asdict(r) for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    from mnist_core.data.sources import load_folder
    from mnist_core.learning.devices import resolve_device

    parser = argparse.ArgumentParser(prog="benchmarks/peer_recipe.py", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "mnist-full"))
    args = parser.parse_args(argv)
    source = load_folder(Path(args.data) / "MNIST" / "raw", "MNIST")
    if source.train is None or source.test is None:
        print(f"{args.data}: full MNIST (train and test idx files) is needed", file=sys.stderr)
        return 2
    device = resolve_device("auto")
    runs = []
    for seed in range(args.seeds):
        runs.append(run(source.train, source.test, seed, device))
        print(f"seed {seed}: {runs[-1].accuracy:.2%} in {runs[-1].train_s:.2f} s", file=sys.stderr, flush=True)
    print(json.dumps(medians(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
