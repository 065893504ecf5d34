"""What a Dask worker does with one run: train (or fine-tune), stream every event back to the app, stop when told,
and send the finished model back serialised once (checkpoints.pack). A training run also sends the model as it is at
each epoch's end, which the app saves if the worker dies before the run ends. It writes nothing to disk: only the app
writes `models/`, so the workers need no shared filesystem.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_core.classroom.cluster import TOPIC
from mnist_core.classroom.dataref import DataRef, resolve
from mnist_core.data.sources import Source
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event
from mnist_core.runs.finetune import FinetuneSummary
from mnist_core.runs.train import RunSummary
from mnist_core.store.checkpoints import PackedCheckpoint

SEND_EVERY_S = 0.2  # how often a run's step events go back to the app
# A word at least this often while a run trains, however long one step or one score takes: then only a worker
# process that has really hung is silent for the app's watchdog (cluster.SILENT_S).
HEARTBEAT_S = 20.0

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


class _Messages:
    """One run's messages to the app on TOPIC, each tagged with its job id: step events bundled a few times a second
    (a small model takes hundreds of steps a second; a live chart needs a few), other events at once, an epoch's
    event together with its checkpoint (so the app holds the model of every epoch it has seen end), and a heartbeat
    from a thread of its own whenever nothing else went for HEARTBEAT_S."""

    def __init__(self, worker, job_id: str):
        self._worker, self._job = worker, job_id
        self._pending: list[dict] = []
        self._sent = 0.0  # monotonic time of the last message: the first step goes at once
        self._lock = threading.Lock()  # the training thread and the heartbeat both send
        self._done = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name=f"digit-lab-heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self.send(running=True)
        self._heartbeat.start()

    def close(self) -> None:
        self._done.set()

    def event(self, event: Event, hold: bool = False) -> None:
        """Queue `event`, and send what is queued unless it is a step with the last bundle just sent, or `hold`
        (an epoch's event waiting for its checkpoint)."""
        with self._lock:
            self._pending.append(event.to_dict())
            if hold or (event.kind == "step" and time.monotonic() - self._sent < SEND_EVERY_S):
                return
            self._send({})

    def send(self, **fields) -> None:
        with self._lock:
            self._send(fields)

    def _send(self, fields: dict) -> None:
        msg = {"job": self._job, **fields}
        if self._pending:
            msg["events"], self._pending = self._pending, []
        self._worker.log_event(TOPIC, msg)
        self._sent = time.monotonic()

    def _beat(self) -> None:
        while not self._done.wait(HEARTBEAT_S / 4):
            with self._lock:
                if time.monotonic() - self._sent >= HEARTBEAT_S:
                    self._send({})


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
    messages = _Messages(get_worker(), request.job_id)
    history: list[Event] = []
    per_epoch = request.parent is None  # a fine-tune's record is made at its end only: it sends no epoch checkpoints

    def on_event(event: Event) -> None:
        if event.kind in ("step", "epoch"):
            history.append(event)
        messages.event(event, hold=per_epoch and event.kind == "epoch" and event.epoch >= 1)

    def on_checkpoint(model, record) -> None:
        packed = pack(model, record)
        messages.send(checkpoint={"weights": packed.weights, "meta": packed.meta, "epoch": record.metrics.epochs_done})

    flag = threading.Event()
    with _lock:
        _flags[request.job_id] = flag
        if request.job_id in _stopped:
            flag.set()
    messages.start()
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

            outcome = train_and_save(
                request.config,
                source,
                request.split,
                on_event=on_event,
                stop=flag,
                save=False,
                on_checkpoint=on_checkpoint,
            )
            summary, finetuned, model, record = outcome.summary(), None, outcome.result.model, outcome.record
        return RunResult(summary, finetuned, None if record is None else pack(model, record), history)
    finally:
        messages.close()
        with _lock:
            _flags.pop(request.job_id, None)
            _stopped.discard(request.job_id)
