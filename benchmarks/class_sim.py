"""A class presses Start at once: 8 runs (the fast recipe, 3 epochs on the bundled sample) submitted together.

    .venv/bin/python benchmarks/class_sim.py [--runs 8] [--epochs 3] [--modes sequential,embedded-1,embedded-2,cluster-2]

For each way of running them, the time until the last run is saved and each run's wait (submitted -> first step):
- sequential: one run after another in this process, as the app's old thread queue did;
- embedded-1 / embedded-2: the app's job queue on its embedded cluster with DIGIT_LAB_WORKERS=1 / 2;
- cluster-2: `dask scheduler` + `dask worker --nworkers 2 --nthreads 1` started here on 127.0.0.1 over TLS with
  keys made here, through DIGIT_LAB_CLUSTER (what a teacher starts), ended by their process ids.
The cluster's start (workers importing torch) is done and timed before the runs are submitted, as a running
server has done it by the time a class arrives. Prints a table, then one JSON line. A benchmark: nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def log(message: str) -> None:
    print(f"[class] {message}", file=sys.stderr, flush=True)


def sequential(configs, source, models: Path) -> list[tuple[float, float]]:
    """(wait, end) per run, seconds from submission: one after another, in this process."""
    from mnist_core.runs.train import train_and_save

    started, times = time.perf_counter(), []
    for config in configs:
        first = []
        train_and_save(
            config,
            source,
            on_event=lambda e, first=first: first or e.kind != "step" or first.append(time.perf_counter()),
            models_dir=models,
        )
        times.append((first[0] - started, time.perf_counter() - started))
    return times


def on_queue(configs, source, models: Path, cluster) -> list[tuple[float, float]]:
    from mnist_core.classroom.jobs import JobQueue, Status

    queue = JobQueue(models, cluster=cluster)
    started, started_wall = time.perf_counter(), time.time()
    jobs = [queue.submit(c, source, owner=f"student-{i}") for i, c in enumerate(configs)]
    first: dict[str, float] = {}
    while any(j.active for j in jobs):
        for j in jobs:
            if j.id not in first and j.history:
                first[j.id] = time.perf_counter() - started
        time.sleep(0.02)
    ends = [j.finished - started_wall for j in jobs]
    bad = [j.error for j in jobs if j.status != Status.DONE]
    if bad:
        raise SystemExit(f"runs failed: {bad}")
    return [(first.get(j.id, end), end) for j, end in zip(jobs, ends)]


def loopback_cluster(workers: int, keys: Path) -> tuple[str, list[subprocess.Popen]]:
    """The class's lab cluster over TLS, with keys made here, as the README's class section starts it."""
    from harness import lab_cluster
    from mnist_core.classroom.keys import make_keys

    make_keys(keys)
    threads = os.environ.get("DIGIT_LAB_CPU_THREADS") or str(max(1, (os.cpu_count() or 1) // workers))
    quiet = {"DASK_LOGGING__DISTRIBUTED": "warning", "DIGIT_LAB_CPU_THREADS": threads}
    address, scheduler = lab_cluster.start_scheduler(keys, keys / "scheduler.log", **quiet)
    worker = lab_cluster.start_worker(address, keys, keys / "worker.log", "--nworkers", str(workers), **quiet)
    return address, [scheduler, worker]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/class_sim.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--modes", default="sequential,embedded-1,embedded-2,cluster-2")
    args = parser.parse_args(argv)

    from mnist_core.classroom.cluster import Cluster, ClusterSettings
    from mnist_core.data.sources import load_source
    from mnist_core.learning.recipes import recipe_config

    source = load_source("mnist-sample")
    configs = [recipe_config("fast", epochs=args.epochs, seed=i) for i in range(args.runs)]
    results = {}
    for mode in args.modes.split(","):
        log(f"{mode}: {args.runs} runs…")
        procs: list[subprocess.Popen] = []
        with tempfile.TemporaryDirectory() as tmp:
            try:
                t = time.perf_counter()
                if mode == "sequential":
                    cluster, start_s = None, 0.0
                elif mode.startswith("embedded-"):
                    cluster = Cluster(ClusterSettings(workers=int(mode.split("-")[1])))
                elif mode.startswith("cluster-"):
                    address, procs = loopback_cluster(int(mode.split("-")[1]), Path(tmp) / "keys")
                    while True:
                        try:
                            cluster = Cluster(ClusterSettings(address=address, keys=Path(tmp) / "keys"))
                            break
                        except Exception:  # not up yet, or no worker yet
                            time.sleep(1)
                else:
                    raise SystemExit(f"unknown mode {mode}")
                if cluster is not None:
                    from mnist_core.classroom.worker import warm_up

                    cluster.client.wait_for_workers(int(mode.split("-")[1]), timeout=180)
                    cluster.client.run(warm_up)
                    start_s = time.perf_counter() - t
                times = (
                    sequential(configs, source, Path(tmp))
                    if cluster is None
                    else on_queue(configs, source, Path(tmp), cluster)
                )
            finally:
                if mode != "sequential" and cluster is not None:
                    cluster.close()
                for p in reversed(procs):
                    p.terminate()
                    p.wait(30)
        waits = [w for w, _ in times]
        results[mode] = {
            "cluster_start_s": round(start_s, 1),
            "last_saved_s": round(max(e for _, e in times), 1),
            "wait_median_s": round(statistics.median(waits), 1),
            "wait_max_s": round(max(waits), 1),
            "waits_s": [round(w, 1) for w in waits],
        }
    print(f"machine: {os.cpu_count()} CPUs; {args.runs} runs of the fast recipe, {args.epochs} epochs on the sample")
    print("| mode | last run saved | wait (median / longest) | cluster start, before |")
    print("|---|---|---|---|")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['last_saved_s']} s | {r['wait_median_s']} / {r['wait_max_s']} s | {r['cluster_start_s']} s |"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
