"""One training run end to end: pick the held-out data, train, evaluate, save a checkpoint.

The CLI and the app's background jobs both call `train_and_save`, so a run started from either
produces the same checkpoint with the same record.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from mnist_core.data.sources import Source, Split, hold_out
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.evaluation import EvalReport, evaluate
from mnist_core.learning.events import Event
from mnist_core.learning.models import count_parameters
from mnist_core.learning.training import TrainResult, train

if TYPE_CHECKING:  # the records' validation (pydantic) is imported once there is something to record
    from mnist_core.store.records import MetricsRecord, ModelRecord

HOLD_OUT_FRACTION = 0.1


@dataclass
class RunData:
    train: Split
    held_out: Split
    held_out_name: str  # what the reported accuracy was measured on, in words


@dataclass(frozen=True)
class RunSummary:
    """A finished run in a few numbers: what the app shows and what `python -m mnist_core train` prints.
    The score fields are None when the run was stopped before its first step (nothing to score or save)."""

    accuracy: float | None
    loss: float | None
    evaluated_on: str  # the held-out split, in words
    n_test: int | None
    n_train: int
    seconds: float
    images_per_s: float
    stopped: bool
    device: str
    checkpoint: str | None  # the saved folder

    def to_dict(self) -> dict:
        """The CLI's JSON line: these keys, in this order, are its contract."""
        return asdict(self)


@dataclass
class RunOutcome:
    result: TrainResult
    report: EvalReport | None
    data: RunData
    checkpoint: Path | None  # the saved folder; None when nothing was learned, or with save=False
    record: ModelRecord | None = None  # what is saved with result.model (with save=False too)

    def summary(self) -> RunSummary:
        return RunSummary(
            accuracy=None if self.report is None else self.report.accuracy,
            loss=None if self.report is None else self.report.loss,
            evaluated_on=self.data.held_out_name,
            n_test=None if self.report is None else self.report.n,
            n_train=self.result.n_train,
            seconds=round(self.result.seconds, 3),
            images_per_s=round(self.result.images_per_s, 1),
            stopped=self.result.stopped,
            device=self.result.device,
            checkpoint=None if self.checkpoint is None else str(self.checkpoint),
        )


def thin_history(history: list[Event], max_steps: int = 2000) -> list[Event]:
    """Every epoch event and at most ~max_steps step events: enough for a chart, small on disk."""
    steps = [h for h in history if h.kind == "step"]
    every = max(1, -(-len(steps) // max_steps))
    return [h for h in history if h.kind != "step" or h.step % every == 0 or h is steps[-1]]


def split_for_run(
    source: Source, split: str, seed: int, eval_source: Source | None = None, eval_split: str = "test"
) -> RunData:
    """Training data and a held-out set that never overlaps it.

    The held-out set is, in order: the given eval source; the source's own test split when training
    on its train split; otherwise a seeded 10% carved off the training data.
    """
    data = source.split(split)
    if eval_source is not None:
        held = eval_source.split(eval_split)
        return RunData(data, held, held.name)
    if split == "train" and source.test is not None:
        return RunData(data, source.test, source.test.name)
    train_part, held = hold_out(data, HOLD_OUT_FRACTION, seed)
    return RunData(train_part, held, held.name)


def planned_steps(config: TrainConfig, source: Source, split: str = "train") -> int:
    """How many batches a run of `config` on `split` will take: its loss curve's length, known before it starts."""
    n = len(split_for_run(source, split, config.seed).train)
    if 0 < config.train_size < n:  # train() subsamples to train_size
        n = config.train_size
    return math.ceil(n / config.batch_size) * config.epochs


def train_and_save(
    config: TrainConfig,
    source: Source,
    split: str = "train",
    eval_source: Source | None = None,
    eval_split: str = "test",
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
    models_dir: str | Path | None = None,
    save: bool = True,
    name: str | None = None,
    on_checkpoint: Callable[[nn.Module, ModelRecord], None] | None = None,
) -> RunOutcome:
    """Train, evaluate on held-out data and (unless nothing was trained) save a checkpoint.

    A run stopped early is still evaluated and saved, marked as stopped: the learner may want to
    compare a half-trained model with a finished one. With save=False the outcome still holds the model and its
    record, for a Dask worker to send to the app, which saves them. `on_checkpoint` gets the model and its record
    after each epoch (scored on that epoch's held-out images, marked cut short): what a worker sends the app in case
    it dies before the run ends.
    """
    config.validate()
    data = split_for_run(source, split, config.seed, eval_source, eval_split)

    def record(model: nn.Module, n_train: int, history: list[Event], metrics: MetricsRecord) -> ModelRecord:
        from mnist_core.store.records import DatasetRecord, ModelRecord, Normalisation

        return ModelRecord(
            name=name[:80] if name else None,  # None: records.default_name, in each reader's language
            architecture=config.model,
            parameters=count_parameters(model),
            config=config,
            dataset=DatasetRecord(
                source=source.key,
                title=source.title,
                split=split,
                n_train=n_train,
                evaluated_on=data.held_out_name,
                eval_source=None if eval_source is None else eval_source.key,
                eval_split=None if eval_source is None else eval_split,
                seed=config.seed,
                classes=source.classes,
            ),
            normalisation=Normalisation(mean=config.norm_mean, std=config.norm_std),
            metrics=metrics,
            history=thin_history(history),
        )

    def epoch_end(model: nn.Module, history: list[Event]) -> None:
        from mnist_core.store.records import MetricsRecord

        epoch = history[-1]
        metrics = MetricsRecord(
            accuracy=epoch.val_acc,
            loss=epoch.val_loss,
            n=min(config.val_size, len(data.held_out)) if epoch.val_acc is not None else None,
            seconds=round(epoch.elapsed_s, 3),
            images_per_s=round(epoch.images_per_s, 1),
            device=next(model.parameters()).device.type,
            stopped=True,
            epochs_done=epoch.epoch,
            cut_short=True,
        )
        n_train = len(data.train) if not 0 < config.train_size < len(data.train) else config.train_size
        on_checkpoint(model, record(model, n_train, history, metrics))

    hook = None if on_checkpoint is None else epoch_end
    result = train(config, data.train, data.held_out, on_event=on_event, stop=stop, on_epoch_end=hook)
    trained_steps = max((h.step for h in result.history), default=0)
    if trained_steps == 0:
        return RunOutcome(result, None, data, None)
    from mnist_core.store.checkpoints import save_checkpoint
    from mnist_core.store.records import MetricsRecord

    report = evaluate(result.model, data.held_out, config, result.device, source.classes)
    epochs_done = max((h.epoch for h in result.history if h.kind == "epoch"), default=0)
    metrics = MetricsRecord(
        accuracy=report.accuracy,
        loss=report.loss,
        n=report.n,
        seconds=round(result.seconds, 3),
        images_per_s=round(result.images_per_s, 1),
        device=result.device,
        stopped=result.stopped,
        epochs_done=epochs_done,
    )
    final = record(result.model, result.n_train, result.history, metrics)
    checkpoint = save_checkpoint(result.model, final, models_dir) if save else None
    return RunOutcome(result, report, data, checkpoint, final)
