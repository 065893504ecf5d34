"""Memory over many runs: N training runs on full MNIST through the app's own job queue, and the resident memory
(RSS) of the app server and of the training workers after each.

    nice -n 19 .venv/bin/python benchmarks/memory.py [--runs 30] [--data DIR] [--recipe fast] [--epochs N] [--concurrent]

The runs go as the app sends them: the dataset the sidebar's default ("mnist") loads for $DIGIT_LAB_DATA (the same
`load_source` call as ui.datasets), the Train page's default settings for the recipe (knobs.settings_from_config ->
config_from_settings), `JobQueue.submit` on the embedded cluster (a scheduler in this process, one `dask worker`
process with its worker processes). Runs go one after another (each waits for the previous to end), or two at a time
with `--concurrent` (two worker processes, as DIGIT_LAB_WORKERS=2). `--epochs` shortens each run (default: the
recipe's own); what stays in memory from a run does not depend on how long it trained.

This process stands for the app server: before the baseline it imports what the server imports (streamlit, plotly,
pandas, the ui package the pages share and the engine), so its RSS is comparable with the server's. The workers'
RSS is each worker process's (by pid, from Client.run(os.getpid)) and the `dask worker` parent's (which hosts the
nannies). After each run it prints the run's number, accuracy, seconds and those figures; peaks are sampled every
0.2 s during the runs. Ends with one JSON line: start, after run 1, after the last, growth from run 1 to the last
and peak, for the server and the workers, against the targets (at most 1.5 GB, growth over the runs under 100 MB).
A benchmark, not a test: nothing is asserted. Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.shared_data import SHARED_DATA  # noqa: E402

MB = 2**20
TARGET_PEAK_MB = 1536  # 1.5 GB
TARGET_GROWTH_MB = 100


def log(message: str) -> None:
    print(f"[memory] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss / MB
    except psutil.Error:  # a worker that ended meanwhile
        return None


def vmhwm_mb() -> float | None:
    """This process's peak RSS as Linux counts it (VmHWM); None elsewhere."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) / 1024, 1)


class Peaks(threading.Thread):
    """The highest RSS each watched process reaches, sampled in the background."""

    def __init__(self, every: float = 0.2):
        super().__init__(name="memory-peaks", daemon=True)
        self.every, self.pids, self.peak = every, {}, {}  # name -> pid, name -> MB
        self.done = threading.Event()

    def watch(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.sample()

    def sample(self) -> None:
        for name, pid in list(self.pids.items()):
            mb = rss_mb(pid)
            if mb is not None:
                self.peak[name] = max(self.peak.get(name, 0.0), mb)

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()


def app_imports() -> None:
    """What the app server has imported by the time it trains: streamlit, the charting and table libraries, the ui
    package the pages share, the engine."""
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import streamlit  # noqa: F401

    import mnist_core.classroom.jobs  # noqa: F401
    import mnist_core.learning.knobs  # noqa: F401
    import mnist_core.runs.train  # noqa: F401
    import ui.charts  # noqa: F401
    import ui.controls  # noqa: F401
    import ui.datasets  # noqa: F401
    import ui.evaluation  # noqa: F401
    import ui.history  # noqa: F401
    import ui.runs  # noqa: F401


def default_config(recipe: str, n_train: int):
    """The Train page's settings for a new session that picks `recipe`: its controls, then the config they make."""
    from mnist_core.learning import knobs
    from mnist_core.learning.recipes import recipe_config

    limits = knobs.Limits(min_train_size=min(500, n_train), max_train_size=n_train)
    return knobs.config_from_settings(knobs.settings_from_config(recipe_config(recipe), limits), limits)


def processes(cluster) -> dict[str, int]:
    """This process, each worker process and their `dask worker` parent, by name."""
    import psutil

    workers = cluster.client.run(os.getpid)
    pids = {"server": os.getpid()}
    for i, (_, pid) in enumerate(sorted(workers.items())):
        pids[f"worker{i + 1}"] = pid
    parents = {psutil.Process(pid).ppid() for pid in workers.values()}
    for i, pid in enumerate(sorted(parents)):
        pids["dask-worker" if len(parents) == 1 else f"dask-worker{i + 1}"] = pid
    return pids


def figures(pids: dict[str, int]) -> dict[str, float | None]:
    return {name: None if (mb := rss_mb(pid)) is None else round(mb, 1) for name, pid in pids.items()}


def summary(rows: list[dict], start: dict, peaks: dict) -> dict:
    names = [n for n in start if n not in ("run", "accuracy", "seconds")]
    out = {}
    for name in names:
        first, last = rows[0].get(name), rows[-1].get(name)
        growth = None if first is None or last is None else round(last - first, 1)
        peak = round(peaks.get(name, 0.0), 1)
        out[name] = {
            "start_mb": start.get(name),
            "after_run_1_mb": first,
            "after_last_mb": last,
            "growth_mb": growth,
            "peak_mb": peak,
            "peak_ok": peak <= TARGET_PEAK_MB,
            "growth_ok": growth is not None and growth < TARGET_GROWTH_MB,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/memory.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    default_data = os.environ.get("DIGIT_LAB_DATA") or str(SHARED_DATA / "mnist-full")
    parser.add_argument("--data", default=default_data, help="the folder holding MNIST/raw (default: %(default)s)")
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--epochs", type=int, default=0, help="epochs per run (default: the recipe's)")
    parser.add_argument("--concurrent", action="store_true", help="two runs at a time, on two worker processes")
    args = parser.parse_args(argv)

    os.environ["DIGIT_LAB_DATA"] = args.data  # read where the app reads it: data.sources.default_data_dir()
    app_imports()
    from mnist_core.classroom.cluster import Cluster, ClusterSettings
    from mnist_core.classroom.jobs import JobQueue, Status
    from mnist_core.classroom.worker import warm_up
    from mnist_core.data.sources import load_source

    source = load_source("mnist")  # ui.datasets._load's call for the sidebar's default
    if source.key != "mnist":
        log(f"full MNIST is not under {args.data}/MNIST/raw: {source.notice}")
        return 2
    config = default_config(args.recipe, len(source.split(source.training_split)))
    if args.epochs:
        config = replace(config, epochs=args.epochs)
    at_once = 2 if args.concurrent else 1
    log(
        f"{args.runs} runs of {config.recipe} ({config.epochs} epochs) on {len(source.train):,} images, {at_once} at once"
    )

    cluster = Cluster(replace(ClusterSettings.from_environment(), workers=at_once))
    peaks = Peaks()
    try:
        cluster.wait_for_workers()
        cluster.client.run(warm_up)  # JobQueue.warm's work: a running server has done it before the first Start
        pids = processes(cluster)
        peaks.watch(pids)
        peaks.start()
        start = figures(pids)
        print("start: " + ", ".join(f"{n} {mb} MB" for n, mb in start.items()), flush=True)
        rows: list[dict] = []
        with tempfile.TemporaryDirectory() as models:
            queue = JobQueue(models, cluster=cluster)
            n = 0
            while n < args.runs:
                batch = min(at_once, args.runs - n)
                jobs = [queue.submit(config, source, owner=f"bench-{n + i}") for i in range(batch)]
                for job in jobs:
                    queue.wait(job, timeout=3600)
                pids = processes(cluster)  # again: a worker that died was started afresh
                peaks.watch(pids)
                now = figures(pids)
                for job in jobs:
                    n += 1
                    if job.status != Status.DONE:
                        log(f"run {n} ended {job.status}: {job.error}")
                    s = job.summary
                    row = {
                        "run": n,
                        "accuracy": None if s is None or s.accuracy is None else round(s.accuracy, 4),
                        "seconds": None if s is None else round(s.seconds, 1),
                        **now,
                    }
                    rows.append(row)
                    print(
                        f"run {n:>3}: accuracy {row['accuracy']}, {row['seconds']} s; "
                        + ", ".join(f"{k} {v} MB" for k, v in now.items()),
                        flush=True,
                    )
            queue.shutdown(timeout=30)
        peaks.sample()
    finally:
        peaks.done.set()
        cluster.close()
    result = {
        "runs": args.runs,
        "at_once": at_once,
        "recipe": config.recipe,
        "epochs": config.epochs,
        "cpus": os.cpu_count(),
        "server_vmhwm_mb": vmhwm_mb(),  # the kernel's own peak for this process, between the samples too
        "targets": {"peak_mb": TARGET_PEAK_MB, "growth_mb": TARGET_GROWTH_MB},
        "processes": summary(rows, start, peaks.peak),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
