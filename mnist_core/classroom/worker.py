"""What a Dask worker does with one run: train (or fine-tune), stream every event back to the app, stop when told,
and send the finished model back serialised once (checkpoints.pack). It writes nothing to disk: only the app
writes `models/`, so the workers need no shared filesystem.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_core.classroom.dataref import DataRef, resolve
from mnist_core.data.sources import Source
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event
from mnist_core.runs.finetune import FinetuneSummary
from mnist_core.runs.train import RunSummary
from mnist_core.store.checkpoints import PackedCheckpoint

TOPIC = "digit-lab"  # the one Dask event topic every run's events go to, each tagged with its job id
SEND_EVERY_S = 0.2  # how often a run's step events go back to the app

# The runs of this worker process that were told to stop, and the flags of those going on (see stop()).
_stopped: set[str] = set()
_flags: dict[str, threading.Event] = {}
_lock = threading.Lock()


@dataclass
class RunRequest:
    job_id: str
    config: TrainConfig
    split: str = "train"
    parent: PackedCheckpoint | None = None  # a saved model to fine-tune (checkpoints.pack_folder)
    # The folders a fine-tune may replay its parent's data from besides the app's own datasets (None: any, on a
    # learner's own computer): the app's allow-list, since a parent's record may come from an upload.
    replay_folders: tuple[str, ...] | None = None


@dataclass
class RunResult:
    summary: RunSummary
    finetune: FinetuneSummary | None = None
    checkpoint: PackedCheckpoint | None = None  # the model, for the app to save; None when nothing was learned
    history: list[Event] = field(default_factory=list)  # every step and epoch event, in order


def stop(job_id: str) -> None:
    """Called in every worker process (Client.run) when the app stops a run: the one running here ends after its
    current batch; one that has not started here yet ends before its first."""
    with _lock:
        _stopped.add(job_id)
        if job_id in _flags:
            _flags[job_id].set()


def warm_up() -> None:
    """Import what a run needs (torch above all: seconds), so the first run starts at once."""
    from mnist_core.runs import finetune, train  # noqa: F401


def run(request: RunRequest, data: Source | DataRef) -> RunResult:
    """The task the app submits for each run: `data` is the dataset, or a reference to one this worker reads
    itself (mnist_core.classroom.dataref)."""
    from distributed import get_worker

    from mnist_core.classroom.cluster import prepare_worker_process
    from mnist_core.store.checkpoints import pack

    prepare_worker_process()  # again: threads this process made before the plugin ran
    worker = get_worker()
    history: list[Event] = []

    pending: list[dict] = []
    sent = 0.0

    def on_event(event: Event) -> None:
        nonlocal sent
        if event.kind in ("step", "epoch"):
            history.append(event)
        pending.append(event.to_dict())
        # A small model takes hundreds of steps a second: send them in bundles, a few a second, which is all a
        # live chart needs, instead of one message each through the scheduler.
        now = time.monotonic()
        if event.kind != "step" or now - sent >= SEND_EVERY_S:
            worker.log_event(TOPIC, {"job": request.job_id, "events": list(pending)})
            pending.clear()
            sent = now

    flag = threading.Event()
    with _lock:
        _flags[request.job_id] = flag
        if request.job_id in _stopped:
            flag.set()
    worker.log_event(TOPIC, {"job": request.job_id, "running": True})
    try:
        source = resolve(data)
        if request.parent is not None:
            from mnist_core.runs.finetune import finetune_model
            from mnist_core.store.checkpoints import unpack

            parent, record = unpack(request.parent)
            tuned = finetune_model(
                parent,
                record,
                source,
                epochs=request.config.epochs,
                seed=request.config.seed,
                on_event=on_event,
                stop=flag,
                folders=None if request.replay_folders is None else tuple(map(Path, request.replay_folders)),
            )
            summary, finetuned, model, record = tuned.summary.run_summary(), tuned.summary, tuned.model, tuned.record
        else:
            from mnist_core.runs.train import train_and_save

            outcome = train_and_save(request.config, source, request.split, on_event=on_event, stop=flag, save=False)
            summary, finetuned, model, record = outcome.summary(), None, outcome.result.model, outcome.record
        return RunResult(summary, finetuned, None if record is None else pack(model, record), history)
    finally:
        with _lock:
            _flags.pop(request.job_id, None)
            _stopped.discard(request.job_id)
