"""Background training jobs for the app: a process-wide queue that runs one job at a time.

Streamlit stops a script run on every click, page switch or refresh, so training lives in a worker
thread here and pages only read snapshots. One job runs at a time: on a 2-core machine two runs
side by side would each go at half speed and neither user would be happy; the second waits in line
and is told its place. Threads here never call Streamlit.
"""

from __future__ import annotations

import atexit
import itertools
import threading
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import TrainConfig
from .data import Source
from .finetune import FinetuneSummary, finetune
from .runs import RunSummary, train_and_save
from .training import Event

_ids = itertools.count(1)
_queues: weakref.WeakSet = weakref.WeakSet()  # every live queue, for the exit hook below
EXIT_WAIT_S = 20.0  # at interpreter exit, how long a stopped run may take to finish its batch, score and save


@dataclass(frozen=True)
class JobSnapshot:
    """A job as it was at one moment, for a page to render while the trainer goes on."""

    id: str
    status: str  # queued, running, done, stopped, failed
    history: list[Event]  # step and epoch events so far
    last: Event | None  # the latest event of any kind
    summary: RunSummary | None
    error: str | None
    config: TrainConfig
    dataset: str  # the source's title
    owner: str
    finetune: FinetuneSummary | None = None  # a fine-tuning run's before and after, once it has ended


@dataclass
class Job:
    config: TrainConfig
    source: Source
    split: str = "train"
    owner: str = ""  # whoever started it (the app passes a browser-session token)
    parent: str | None = None  # a saved model's folder: fine-tune it on `source` instead of training afresh
    id: str = field(default_factory=lambda: f"{time.strftime('%H%M%S')}-{next(_ids)}")
    status: str = "queued"  # queued, running, done, stopped, failed
    history: list[Event] = field(default_factory=list)  # step and epoch events
    last: Event | None = None  # the latest event of any kind
    summary: RunSummary | None = None  # once finished
    finetune: FinetuneSummary | None = None  # once a fine-tuning run has finished
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    stop_flag: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def on_event(self, event: Event) -> None:
        with self.lock:
            if event.kind in ("step", "epoch"):
                self.history.append(event)
            self.last = event

    def snapshot(self) -> JobSnapshot:
        """A consistent copy for a page to render, taken without blocking the trainer for long."""
        with self.lock:
            return JobSnapshot(
                self.id,
                self.status,
                list(self.history),
                self.last,
                self.summary,
                self.error,
                replace(self.config),
                self.source.title,
                self.owner,
                self.finetune,
            )

    def progress(self) -> float:
        if self.status == "done":
            return 1.0
        last = self.last
        return min(1.0, last.step / last.total_steps) if last is not None and last.total_steps else 0.0


class JobQueue:
    """Runs submitted jobs one after another in a single daemon worker thread."""

    def __init__(self, models_dir: str | Path | None = None, keep: int = 50):
        self.models_dir = models_dir
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._pending: deque[Job] = deque()
        self._cv = threading.Condition(threading.RLock())
        self._worker: threading.Thread | None = None
        self._closing = False
        _queues.add(self)
        with self._cv:
            self._start_worker()  # now, not at the first submit: it has an import to do first (see _work)

    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="digit-lab-trainer", daemon=True)
            self._worker.start()

    def submit(
        self, config: TrainConfig, source: Source, split: str = "train", owner: str = "", parent: str | None = None
    ) -> Job:
        """Queue a run: training `config` on `source`'s `split`, or, given a `parent` checkpoint folder,
        fine-tuning it on all of `source` for `config.epochs` epochs with `config.seed` (mnist_core.finetune)."""
        if self._closing:
            raise RuntimeError("the server is shutting down; no new training runs")
        config.validate()
        source.split(split)  # fail now, in the caller's thread, if the split does not exist
        job = Job(config, source, split, owner, parent)
        with self._cv:
            self._jobs[job.id] = job
            self._pending.append(job)
            self._forget_old()
            self._start_worker()
            self._cv.notify()
        return job

    def get(self, job_id: str | None) -> Job | None:
        return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        with self._cv:  # page threads read while submit() may be adding: copy under the lock
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def running(self) -> Job | None:
        return next((j for j in self.jobs() if j.status == "running"), None)

    def last_ended(self) -> Job | None:
        """The run that ended most recently (done, stopped or failed), if any."""
        ended = [j for j in self.jobs() if not j.active and j.finished is not None]
        return max(ended, key=lambda j: j.finished, default=None)

    def position(self, job: Job) -> int:
        """0 = running now; n = n jobs ahead of it."""
        with self._cv:
            if job.status != "queued":
                return 0
            ahead = list(self._pending).index(job) if job in self._pending else 0
            return ahead + (1 if any(j.status == "running" for j in self._jobs.values()) else 0)

    def stop(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        job.stop_flag.set()
        with self._cv:
            if job in self._pending:  # never started: drop it from the line
                self._pending.remove(job)
                with job.lock:
                    job.status, job.finished = "stopped", time.time()

    def shutdown(self, timeout: float = EXIT_WAIT_S) -> None:
        """Stop every job and let the running one end cleanly: it stops after its current batch and is saved
        like a run stopped with the Stop button. Runs at interpreter exit (Ctrl-C or SIGTERM on the server):
        a daemon thread still inside torch when Python finalises is killed mid-C++ call, which aborts the
        whole process ("terminate called without an active exception", exit code 134) and loses the run."""
        with self._cv:
            self._closing = True
            for job in list(self._pending):
                self.stop(job.id)
            for job in self._jobs.values():
                job.stop_flag.set()
            self._cv.notify_all()
            worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout)

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.time() + timeout
        while job.active:
            if end is not None and time.time() > end:
                return False
            time.sleep(0.05)
        return True

    def _train(self, job: Job) -> RunSummary:
        outcome = train_and_save(
            job.config, job.source, job.split, on_event=job.on_event, stop=job.stop_flag, models_dir=self.models_dir
        )
        return outcome.summary()

    def _finetune(self, job: Job) -> tuple[FinetuneSummary, RunSummary]:
        tuned = finetune(
            job.parent,
            job.source,
            epochs=job.config.epochs,
            seed=job.config.seed,
            on_event=job.on_event,
            stop=job.stop_flag,
            models_dir=self.models_dir,
        )
        return tuned, RunSummary(  # the few numbers every run has, for the sidebar and the models lists
            accuracy=tuned.personal_after,
            loss=None,
            evaluated_on=f"{tuned.n_personal_eval} of your drawings it did not train on",
            n_test=tuned.n_personal_eval,
            n_train=tuned.n_personal_train,
            seconds=tuned.seconds,
            images_per_s=tuned.images_per_s,
            stopped=tuned.stopped,
            device=tuned.device,
            checkpoint=tuned.checkpoint,
        )

    def _forget_old(self) -> None:  # called with the lock held
        done = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.created)
        for j in done[: max(0, len(done) - self.keep)]:
            del self._jobs[j.id]

    def _work(self) -> None:
        # Every run ends with evaluate(), which imports scikit-learn on first use. Once Python is shutting down
        # that import fails (joblib registers an exit hook), so a run stopped at exit could not be scored and
        # saved: import it here, before any run, which also spares the first run that wait.
        import sklearn.metrics  # noqa: F401

        while True:
            with self._cv:
                while not self._pending and not self._closing:
                    self._cv.wait()
                if self._closing:
                    return
                job = self._pending.popleft()
                job.status = "running"
            try:
                if job.parent is not None:
                    tuned, summary = self._finetune(job)
                else:
                    tuned, summary = None, self._train(job)
                with job.lock:
                    job.summary, job.finetune = summary, tuned
                    job.status = "stopped" if summary.stopped else "done"
                    job.finished = time.time()
            except Exception as e:  # a failed run must not kill the worker; the page shows the message
                traceback.print_exc()
                with job.lock:
                    job.error = str(e) or type(e).__name__
                    job.status = "failed"
                    job.finished = time.time()


@atexit.register
def _stop_all_at_exit() -> None:
    for queue in list(_queues):
        queue.shutdown()
