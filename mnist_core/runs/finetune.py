"""Fine-tuning: teach a saved model someone's own handwriting without it forgetting what it already reads.

Each epoch the model sees the personal drawings (repeated, each augmented anew) mixed with three times as many images
of the data it first learned from (replayed, so it does not forget), at a tenth of its learning rate. Accuracy is measured before and after on
the personal drawings it did not train on and on the parent's own held-out images.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from mnist_core.data.folders import check_dataset
from mnist_core.data.sources import DataError, Source, Split, hold_out, load_source, subsample
from mnist_core.i18n import N_, _
from mnist_core.learning.evaluation import evaluate
from mnist_core.learning.events import Event
from mnist_core.learning.models import count_parameters
from mnist_core.learning.training import train
from mnist_core.runs.train import RunSummary, split_for_run, thin_history
from mnist_core.store.checkpoints import load_checkpoint, save_checkpoint
from mnist_core.store.records import FinetuneRecord, MetricsRecord, ModelRecord, default_name

PERSONAL_HOLD_OUT = 0.25  # of the collection, seeded, when no separate personal test set is given
PERSONAL_PER_EPOCH = 1000  # personal drawings (repeated, each augmented differently) seen per epoch
REPLAY_PER_EPOCH = 3000  # images of the parent's training data mixed in per epoch
LR_FACTOR = 0.1  # of the parent's learning rate: adjust what it knows, do not relearn it
DEFAULT_EPOCHS = 4
MIN_DRAWINGS = 4


@dataclass(frozen=True)
class FinetuneSummary:
    """What `python -m mnist_core finetune` prints (these keys, in this order) and what the app shows."""

    personal_before: float
    personal_after: float
    reference_before: float | None
    reference_after: float | None
    n_personal_train: int
    n_personal_eval: int
    seconds: float
    checkpoint: str | None
    stopped: bool = False
    reference: str | None = None  # the reference images, in words
    note: tuple[str, dict] | None = None  # e.g. why nothing was replayed: (message marked N_, its fields)
    device: str = "cpu"
    images_per_s: float = 0.0

    def to_dict(self) -> dict:
        """The CLI's JSON line: these keys, in this order, are its contract."""
        app_only = ("stopped", "reference", "note", "device", "images_per_s")
        return {k: v for k, v in asdict(self).items() if k not in app_only}

    @property
    def notice(self) -> str | None:
        """The note in the reader's language: the run was fine-tuned on a worker, where no language is set."""
        return None if self.note is None else _(self.note[0]).format(**self.note[1])

    def run_summary(self) -> RunSummary:
        """The few numbers every run has, for the sidebar and the models lists."""
        return RunSummary(
            accuracy=self.personal_after,
            loss=None,
            evaluated_on=_("{n} of your drawings it did not train on").format(n=self.n_personal_eval),
            n_test=self.n_personal_eval,
            n_train=self.n_personal_train,
            seconds=self.seconds,
            images_per_s=self.images_per_s,
            stopped=self.stopped,
            device=self.device,
            checkpoint=self.checkpoint,
        )


@dataclass
class FinetuneData:
    personal_train: Split
    personal_eval: Split
    replay: Split | None  # the parent's own kind of training images
    reference: Split | None  # the parent's own kind of held-out images
    note: tuple[str, dict] | None = None


def parent_data(record: ModelRecord, folders: tuple[Path, ...] | None = None) -> tuple[Split, Split]:
    """(training part, held-out part) of the data a model was trained and scored on, as its record names them:
    one of the app's own datasets, or a folder inside `folders` (None: any folder, as on a learner's own computer)."""
    ds = record.dataset
    if not ds.source:
        raise DataError(_("this model's record does not say which data it learned from"))
    source = load_source(check_dataset(ds.source, folders), download=False)
    eval_source = load_source(check_dataset(ds.eval_source, folders), download=False) if ds.eval_source else None
    seed = ds.seed if ds.seed is not None else record.config.seed
    data = split_for_run(source, ds.split or "train", seed, eval_source, ds.eval_split or "test")
    return data.train, data.held_out


def gather(
    record: ModelRecord,
    personal: Source,
    personal_eval: Source | None = None,
    reference: Split | None = None,
    seed: int = 0,
    folders: tuple[Path, ...] | None = None,
) -> FinetuneData:
    """The personal train/eval parts and the parent's data to replay and to score on (from `folders`, see
    parent_data)."""
    drawings = personal.split("all")
    if personal_eval is not None:
        train_part, eval_part = drawings, personal_eval.split("all")
    else:
        if len(drawings) < MIN_DRAWINGS:
            raise DataError(
                _("{name} has {n} drawings; keep at least {min} to fine-tune").format(
                    name=_(personal.title), n=len(drawings), min=MIN_DRAWINGS
                )
            )
        train_part, eval_part = hold_out(drawings, PERSONAL_HOLD_OUT, seed)
    note = None
    try:
        replay, parent_held_out = parent_data(record, folders)
    except DataError as e:
        replay = parent_held_out = None
        note = (
            N_("The data this model first learned from cannot be loaded, so none is replayed ({error})."),
            {"error": str(e)},
        )
    return FinetuneData(train_part, eval_part, replay, reference if reference is not None else parent_held_out, note)


def _mixed(data: FinetuneData, seed: int) -> Split:
    """One epoch's worth: the personal drawings repeated to PERSONAL_PER_EPOCH, plus REPLAY_PER_EPOCH replayed images."""
    copies = math.ceil(PERSONAL_PER_EPOCH / len(data.personal_train))
    parts = [data.personal_train.images.repeat(copies, 1, 1)], [data.personal_train.labels.repeat(copies)]
    if data.replay is not None and len(data.replay):
        replay = subsample(data.replay, REPLAY_PER_EPOCH, seed)
        parts[0].append(replay.images)
        parts[1].append(replay.labels)
    return Split(torch.cat(parts[0]), torch.cat(parts[1]), "personal drawings + replayed images")


def _accuracy(model, split: Split | None, config) -> float | None:
    if split is None or len(split) == 0:
        return None
    return evaluate(model, split, config, config.device).accuracy


@dataclass
class Tuned:
    """A finished fine-tune, not saved yet: its summary, the model and the record to save it with."""

    summary: FinetuneSummary  # its checkpoint is None until the model is saved
    model: nn.Module
    record: ModelRecord | None  # None: stopped before its first step, nothing to save


def finetune(
    parent: str | Path,
    personal: Source,
    personal_eval: Source | None = None,
    reference: Split | None = None,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
    models_dir: str | Path | None = None,
    save: bool = True,
) -> FinetuneSummary:
    """Fine-tune the saved model at `parent` on a collection and save the result as a new model (its parent's
    run id in its record). A stopped run is saved too, marked stopped, as a training run is."""
    started = time.perf_counter()
    model, ckpt = load_checkpoint(parent)
    record = ckpt.record.model_copy(update={"run_id": ckpt.record.run_id or ckpt.run_id})
    tuned = finetune_model(model, record, personal, personal_eval, reference, epochs, seed, on_event, stop)
    folder = None if not save or tuned.record is None else str(save_checkpoint(tuned.model, tuned.record, models_dir))
    return replace(tuned.summary, checkpoint=folder, seconds=round(time.perf_counter() - started, 3))


def finetune_model(
    model: nn.Module,
    record: ModelRecord,
    personal: Source,
    personal_eval: Source | None = None,
    reference: Split | None = None,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
    folders: tuple[Path, ...] | None = None,
) -> Tuned:
    """Fine-tune `model`, saved under `record` (whose run id the new record names as its parent), on a collection;
    the new model and its record are returned unsaved (a Dask worker sends them to the app). The parent's data is
    replayed only from the app's own datasets or `folders` (parent_data)."""
    started = time.perf_counter()
    data = gather(record, personal, personal_eval, reference, seed, folders)
    config = replace(
        record.config,
        epochs=epochs,
        lr=record.config.lr * LR_FACTOR,
        seed=seed,
        train_size=0,
        val_size=min(len(data.personal_eval), 10_000),
        recipe="finetune",
    ).validate()
    personal_before = _accuracy(model, data.personal_eval, config)
    reference_before = _accuracy(model, data.reference, config)
    result = train(config, _mixed(data, seed), data.personal_eval, on_event=on_event, stop=stop, initial=model)
    personal_after = _accuracy(result.model, data.personal_eval, config)
    reference_after = _accuracy(result.model, data.reference, config)
    saved_as = None
    if any(h.step for h in result.history):
        saved_as = ModelRecord(
            name=f"{record.name or default_name(record)} + {personal.title}"[:80]
            + (" (stopped)" if result.stopped else ""),
            architecture=record.architecture,
            parameters=count_parameters(result.model),
            config=config,
            # still a model of the parent's data: a later fine-tune replays and scores that again
            dataset=record.dataset.model_copy(update={"evaluated_on": data.reference.name})
            if data.reference is not None
            else record.dataset,
            normalisation=record.normalisation,
            metrics=MetricsRecord(
                accuracy=reference_after if reference_after is not None else personal_after,
                n=len(data.reference) if reference_after is not None else len(data.personal_eval),
                seconds=round(result.seconds, 3),
                images_per_s=round(result.images_per_s, 1),
                device=result.device,
                stopped=result.stopped,
                epochs_done=max((h.epoch for h in result.history if h.kind == "epoch"), default=0),
            ),
            history=thin_history(result.history),
            finetune=FinetuneRecord(
                parent=record.run_id,
                personal_source=personal.key,
                personal=data.personal_eval.name,
                personal_before=personal_before,
                personal_after=personal_after,
                reference=None if data.reference is None else data.reference.name,
                reference_before=reference_before,
                reference_after=reference_after,
            ),
        )
    summary = FinetuneSummary(
        personal_before=personal_before,
        personal_after=personal_after,
        reference_before=reference_before,
        reference_after=reference_after,
        n_personal_train=len(data.personal_train),
        n_personal_eval=len(data.personal_eval),
        seconds=round(time.perf_counter() - started, 3),
        checkpoint=None,
        stopped=result.stopped,
        reference=None if data.reference is None else data.reference.name,
        note=data.note,
        device=result.device,
        images_per_s=round(result.images_per_s, 1),
    )
    return Tuned(summary, result.model, saved_as)
