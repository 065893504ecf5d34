"""A class of 30 on one server: page answers, draw-to-prediction against idle, runs lost and peak memory.

    nice -n 19 .venv/bin/python benchmarks/class_load.py [--sessions 30] [--browsers 6] [--runs 10] [--rounds N]
        [--idle-rounds N] [--epochs E] [--quick] [--seed S] [--checkpoint DIR]

One real app server under `streamlit run`, bound to 127.0.0.2 (a shared classroom server to the app: every student
is their own by their own cookie), with its embedded Dask cluster of DIGIT_LAB_WORKERS=2 training workers, offline
on the bundled 5,000-digit sample. The students (benchmarks/class_sessions.py):
- a few real browser contexts in one headless Chromium: two press Start on Train and watch their run, the others
  draw their digit on Draw again and again (each reading timed in the browser, mouse-up to the Prediction metric);
- the rest light clients that speak Streamlit's own websocket protocol (harness/light_client.py): enough of them
  press Start that `--runs` runs in all queue behind the two workers, and they follow their run's live view; the
  others open Explore, Evaluate, Learn and Draw again and again, a few seconds apart. Light clients, because on
  two cores thirty Chromium pages would measure the browsers, not the server; they still answer every timed redraw
  of their pages (the sidebar's run line every 2 s while any run goes, the live view every 4 s) as a browser does.
Before the class, with the server warm and otherwise quiet, one browser session draws alone and one light client
opens each page alone: the idle figures. Every run is the fast recipe for `--epochs` on the sample.

Reports, as a table and one JSON line: page answers per page kind (request to the script's finished message; for
a browser to the page's content), draw-to-prediction p50/p95 alone and in the class (and while runs trained), runs
submitted / saved / failed / lost (lost: neither saved in the models folder nor said failed on its page), the most
runs seen waiting, and the peak RSS and CPU seconds of the server process (app and Dask scheduler) and of the Dask
worker processes (read by their pids from /proc), with the browsers' CPU beside. A benchmark: nothing asserted.
`--quick` (3 rounds, 1 epoch) is for a quiet machine in about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app_vs_cli import browser_pids, cpu_seconds, peak_rss_mb  # noqa: E402
from class_sessions import Class, Role, Student, open_each  # noqa: E402
from load import prepare_model  # noqa: E402
from load_scenario import DRAW_DIGITS, latencies  # noqa: E402

from harness.browser import OFFLINE, Server  # noqa: E402
from mnist_core.store.checkpoints import list_checkpoints  # noqa: E402
from mnist_core.store.owners import browser_id  # noqa: E402

WORKERS = 2
ARRIVAL_S = 5.0  # the class arrives over these first seconds


BEGAN = time.time()


def log(message: str) -> None:
    print(f"[class-load {time.time() - BEGAN:5.0f} s] {message}", file=sys.stderr, flush=True)


class ProcessMeter:
    """Peak RSS (VmHWM) and CPU seconds of the server and each process below it (the Dask worker command, its
    training workers), and the browsers' CPU, sampled twice a second by pid so that a process that ends or is
    replaced is still counted up to its last sample."""

    def __init__(self, server_pid: int):
        self.server_pid, self.seen, self.roles, self.total_peak_mb = server_pid, {}, {}, 0.0
        self.start_cpu, self.start_rss = {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _role(self, p: psutil.Process) -> str:
        if p.pid == self.server_pid:
            return "server"
        try:
            command = " ".join(p.cmdline())
            if "dask_worker" in command:
                return "dask worker command"
            if "resource_tracker" in command:  # multiprocessing's helper beside the workers
                return "other"
            if any("dask_worker" in " ".join(a.cmdline()) for a in p.parents()):
                return "training worker"
        except psutil.Error:
            pass
        return "other"

    def snapshot(self) -> None:
        try:
            server = psutil.Process(self.server_pid)
            tree = [server, *server.children(recursive=True)]
        except psutil.Error:
            return
        rss = 0.0
        for p in tree:
            try:
                rss += p.memory_info().rss / 2**20
                if p.pid not in self.roles:
                    self.roles[p.pid] = self._role(p)
                self.seen[p.pid] = (peak_rss_mb(p.pid) or 0.0, cpu_seconds([p.pid]))
            except psutil.Error:
                continue
        self.total_peak_mb = max(self.total_peak_mb, rss)
        for pid in browser_pids():
            self.roles.setdefault(pid, "browser")
            self.seen[pid] = (0.0, cpu_seconds([pid]))

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.snapshot()

    def start(self) -> None:
        """From now on: CPU seconds are counted from here, the class's memory from here."""
        self.snapshot()
        self.start_cpu = {pid: cpu for pid, (_, cpu) in self.seen.items()}
        self.start_rss = {pid: _rss_mb(pid) for pid in self.seen}
        self.total_peak_mb = 0.0
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.snapshot()
        out = {}
        for role in ("server", "dask worker command", "training worker", "other", "browser"):
            pids = [pid for pid, r in self.roles.items() if r == role]
            if not pids:
                continue
            out[role] = {
                "processes": len(pids),
                "cpu_s": round(sum(self.seen[pid][1] - self.start_cpu.get(pid, 0.0) for pid in pids), 1),
            }
            if role != "browser":  # Chromium's many processes share memory: their RSS would not add up
                out[role]["start_rss_mb"] = [round(self.start_rss.get(pid) or 0) for pid in pids]
                out[role]["peak_rss_mb"] = [round(self.seen[pid][0]) for pid in pids]
        out["server tree"] = {"peak_rss_sum_mb": round(self.total_peak_mb)}
        return out


def _rss_mb(pid: int) -> float | None:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return None


def wait_quiet(server_pid: int, ceiling_s: float = 180) -> float:
    """Until the server and its workers have started (two training workers) and use under a tenth of a core: the
    class meets a server that has been running. Returns the seconds waited."""
    started = time.time()
    while time.time() - started < ceiling_s:
        tree = [psutil.Process(server_pid), *psutil.Process(server_pid).children(recursive=True)]
        workers = [p for p in tree if any("dask_worker" in " ".join(a.cmdline()) for a in p.parents())]
        before = cpu_seconds([p.pid for p in tree])
        time.sleep(1.0)
        if len(workers) >= WORKERS and cpu_seconds([p.pid for p in tree]) - before < 0.1:
            break
    return time.time() - started


def stats(values: list[float], scale: float = 1.0) -> dict:
    if not values:
        return {"n": 0}
    v = np.asarray(values) * scale
    return {
        "n": len(v),
        "p50": round(float(np.median(v)), 3),
        "p95": round(float(np.percentile(v, 95)), 3),
        "max": round(float(v.max()), 3),
    }


def make_students(args, rng: random.Random) -> list[Student]:
    """The class: browsers first (up to two of them training, at least one drawing), then light clients, `runs`
    of the students training in all."""
    browser_trainers = min(2, args.runs, max(0, args.browsers - 1))
    light = args.sessions - args.browsers
    light_trainers = min(light, args.runs - browser_trainers)
    students, n = [], 0

    def add(role: Role, digit: int | None = None) -> None:
        nonlocal n
        students.append(Student(role, f"{role.value}-{n}", os.urandom(16).hex(), rng.uniform(0, ARRIVAL_S), digit))
        n += 1

    for i in range(args.browsers - browser_trainers):
        add(Role.DRAW, DRAW_DIGITS[i % len(DRAW_DIGITS)])
    for _ in range(browser_trainers):
        add(Role.TRAIN)
    for _ in range(light_trainers):
        add(Role.LIGHT_TRAIN)
    for _ in range(light - light_trainers):
        add(Role.LIGHT_BROWSE)
    return students


def page_answers(students: list[Student]) -> dict:
    kinds = sorted({a.kind for s in students for a in s.answers})
    out = {}
    for kind in kinds:
        answers = [a for s in students for a in s.answers if a.kind == kind]
        out[kind] = {
            **stats([a.seconds for a in answers if not a.error]),
            "errors": sum(bool(a.error) for a in answers),
        }
    return out


def readings(students: list[Student], phases: tuple[str, ...]) -> dict:
    outcomes = [s.outcome for s in students if s.role == Role.DRAW]
    ms = [m for phase in phases for m in latencies(outcomes, phase)]
    wrong = sum(r["value"] != str(o.digit) for o in outcomes for r in o.readings if r["phase"] in phases)
    again = sum(s.clears_again for s in students if s.role == Role.DRAW)
    # The slowest reading, split where the page sent the drawing: a wait before it is the browser's, after it the
    # server's and the way back.
    slowest = max(
        (r for o in outcomes for r in o.readings if r["phase"] in phases), key=lambda r: r["ms"], default=None
    )
    split = (
        None
        if slowest is None
        else [round(slowest["to_send_ms"] / 1000, 3), round((slowest["ms"] - slowest["to_send_ms"]) / 1000, 3)]
    )
    return {**stats(ms, 1 / 1000), "wrong": wrong, "clears_again": again, "slowest_to_send_and_after_s": split}


def saved_owners(models: Path, keep: set[str]) -> dict[str, list]:
    """browser id -> the models of that student's in the models folder (not the benchmark's own)."""
    saved_by: dict[str, list] = {}
    for c in list_checkpoints(models):
        if c.run_id not in keep and c.record.owner is not None:
            saved_by.setdefault(c.record.owner.id, []).append(c)
    return saved_by


def wait_for_models(students: list[Student], models: Path, keep: set[str], ceiling_s: float = 180) -> None:
    """Until every run whose page did not say it failed is saved, or `ceiling_s` has passed: a student whose page
    gave up may have left a run training that is saved later, and only a run that never is counts as lost."""
    deadline = time.time() + ceiling_s
    pending = [s for s in students if s.run is not None and s.run.run_id and s.run.page_said != "failed"]
    while time.time() < deadline and any(browser_id(s.secret) not in saved_owners(models, keep) for s in pending):
        time.sleep(1.0)


def runs_report(students: list[Student], models: Path, keep: set[str]) -> dict:
    """What happened to each run: saved (a model of its student's in the models folder), said failed on its page,
    refused at Start, or lost (none of these); and how long its student waited."""
    saved_by = saved_owners(models, keep)
    trainers = [s for s in students if s.run is not None]
    out = {"submitted": 0, "saved": 0, "failed": 0, "refused": 0, "lost": 0, "saved_not_shown": 0}
    for s in trainers:
        saved = bool(saved_by.get(browser_id(s.secret)))
        if s.run.page_said == "refused" or s.run.run_id is None:
            out["refused"] += 1
            continue
        out["submitted"] += 1
        out["saved"] += saved
        out["failed"] += s.run.page_said == "failed"
        out["lost"] += not saved and s.run.page_said != "failed"
        out["saved_not_shown"] += saved and s.run.page_said != "done"
    ours = {browser_id(s.secret) for s in trainers}
    done = [s.run for s in trainers if s.run.ended and s.run.page_said == "done"]
    out["most_in_line"] = max((s.run.most_in_line for s in trainers), default=0)
    out["start_to_result_s"] = stats([r.ended - r.started for r in done])
    out["start_to_training_s"] = stats([r.began - r.started for r in done if r.began])
    seconds = [c.record.metrics.seconds for o, cs in saved_by.items() if o in ours for c in cs]
    out["training_s"] = stats([x for x in seconds if x is not None])
    return out


def print_report(result: dict) -> None:
    m = result["machine"]
    print(
        f"A class of {result['sessions']} on one server ({m['cpus']} CPUs, load average {m['load_before']} before): "
        f"{result['browsers']} browsers ({result['drawing']} drawing, {result['browser_trainers']} training), "
        f"{result['sessions'] - result['browsers']} light clients; {result['runs_asked']} runs of the fast recipe, "
        f"{result['epochs']} epoch(s) on the sample, {WORKERS} training workers; class {result['class_wall_s']} s."
    )
    print("\npage answers, seconds (light client: request to the script's finished message; browser: to the content)")
    print("| page | alone n | alone p50 | class n | class p50 | class p95 | class max | errors |")
    print("|---|---|---|---|---|---|---|---|")
    alone, cls = result["pages_alone"], result["pages_class"]
    for kind in sorted(set(alone) | set(cls)):
        a, c = alone.get(kind, {"n": 0}), cls.get(kind, {"n": 0})
        print(
            f"| {kind} | {a['n']} | {a.get('p50', '-')} | {c['n']} | {c.get('p50', '-')} | {c.get('p95', '-')} "
            f"| {c.get('max', '-')} | {c.get('errors', 0)} |"
        )
    print("\ndraw-to-prediction, seconds (mouse-up to the Prediction metric in the page)")
    print("| when | n | p50 | p95 | max | max: until sent / after | read as another digit | Clear pressed again |")
    print("|---|---|---|---|---|---|---|---|")
    for key, title in (
        ("draw_alone", "one session alone"),
        ("draw_class", f"in the class of {result['sessions']}"),
        ("draw_class_runs", "... while runs trained or waited"),
    ):
        d = result[key]
        split = " / ".join(map(str, d["slowest_to_send_and_after_s"] or ["-"]))
        cells = [d["n"], *(d.get(k, "-") for k in ("p50", "p95", "max")), split, d["wrong"], d["clears_again"]]
        print(f"| {title} | " + " | ".join(map(str, cells)) + " |")
    r, alone = result["runs"], result["run_alone"]
    print(
        f"\nruns: {r['submitted']} submitted, {r['saved']} saved, {r['failed']} failed, {r['lost']} lost "
        f"(target 0), {r['refused']} refused at Start; at most number {r['most_in_line']} in line"
    )
    print("| run, seconds | alone | class p50 | class p95 | class max |")
    print("|---|---|---|---|---|")
    for key, title in (
        ("start_to_result_s", "Start to the page showing its result"),
        ("start_to_training_s", "Start to the page showing it training (light clients)"),
        ("training_s", "training, as its saved record says"),
    ):
        a, c = alone.get(key, {}), r[key]
        print(f"| {title} | {a.get('p50', '-')} | {c.get('p50', '-')} | {c.get('p95', '-')} | {c.get('max', '-')} |")
    print(f"sessions that failed: {len(result['failed_sessions'])}")
    for e in result["failed_sessions"][:3]:
        print("  a session failed: " + " / ".join(e.strip().splitlines()[-3:]))
    print("\nprocesses during the class: RSS at its start and peak (MB), CPU seconds used in it")
    print("| process | count | RSS at start | peak RSS | CPU s |")
    print("|---|---|---|---|---|")
    for role, p in result["processes"].items():
        if "cpu_s" in p:
            start, peak = (", ".join(map(str, p.get(k, ["-"]))) for k in ("start_rss_mb", "peak_rss_mb"))
            print(f"| {role} | {p['processes']} | {start} | {peak} | {p['cpu_s']} |")
    print(f"| server and workers together | | | {result['processes']['server tree']['peak_rss_sum_mb']} | |")
    print(f"| this benchmark (light clients, Playwright) | 1 | | | {result['benchmark_cpu_s']} |")
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/class_load.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="students at once (browsers + light clients)")
    parser.add_argument(
        "--browsers", type=int, default=6, help="of them, real browser contexts (2 train, the rest draw)"
    )
    parser.add_argument("--runs", type=int, default=10, help="of them, students who start a training run")
    parser.add_argument("--rounds", type=int, default=None, help="readings per drawer, pages per light client (10)")
    parser.add_argument("--idle-rounds", type=int, default=None, help="readings of the one session alone (= rounds)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of each class run (2)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 epoch: about two minutes on a quiet machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="a saved model folder to draw with (default: train one)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 10)
    args.idle_rounds = args.idle_rounds or args.rounds
    args.epochs = args.epochs or (1 if args.quick else 2)
    if not 1 <= args.browsers <= args.sessions or args.runs > args.sessions:
        parser.error("need 1 <= --browsers <= --sessions and --runs <= --sessions")
    rng = random.Random(args.seed)
    load_before = round(os.getloadavg()[0], 2)

    with tempfile.TemporaryDirectory(prefix="digit-lab-class-") as work:
        models = Path(work) / "models"
        models.mkdir()
        prepare_model(args, models)
        keep = {c.run_id for c in list_checkpoints(models)}
        model_name = list_checkpoints(models)[0].name
        env = {"DIGIT_LAB_WORKERS": str(WORKERS), "DIGIT_LAB_DATA": str(Path(work) / "data"), **OFFLINE}
        server = Server(models, env=env, address="127.0.0.2")
        link = f"recipe=fast&epochs={args.epochs}"
        try:
            log(f"server on {server.url}; warming it up as a teacher would (every page once)")
            asyncio.run(open_each(server, Student(Role.LIGHT_BROWSE, "teacher", os.urandom(16).hex(), 0.0), link))
            log(f"waiting for the workers to start and the server to go quiet ({wait_quiet(server.proc.pid):.0f} s)")
            log(f"alone: one browser draws {args.idle_rounds} digits, one light client opens each page twice")
            drawer = Student(Role.DRAW, "alone-draw", os.urandom(16).hex(), 0.0, DRAW_DIGITS[0])
            Class(server, [drawer], link, rounds=args.idle_rounds, model_name=model_name, seed=args.seed).run()
            reader = Student(Role.LIGHT_BROWSE, "alone-pages", os.urandom(16).hex(), 0.0)
            asyncio.run(open_each(server, reader, link, times=2))
            students = make_students(args, rng)
            log(
                f"the class: {len(students)} students arrive over {ARRIVAL_S:.0f} s; {args.runs} runs of {link}; "
                f"{args.rounds} rounds each, and on until every run has ended"
            )
            meter = ProcessMeter(server.proc.pid)
            meter.start()
            mine = cpu_seconds([os.getpid()])
            started = time.time()
            Class(server, students, link, args.rounds, model_name, seed=args.seed).run()
            class_wall = time.time() - started
            benchmark_cpu = cpu_seconds([os.getpid()]) - mine
            processes = meter.stop()
            wait_for_models(students, models, keep)
            runs = runs_report(students, models, keep)
            log("alone again: one light client trains one run with nobody else on the server")
            trainer = Student(Role.LIGHT_TRAIN, "alone-train", os.urandom(16).hex(), 0.0)
            Class(server, [trainer], link, 0, model_name, seed=args.seed).run()
            run_alone = runs_report([trainer], models, keep)
        finally:
            server.stop()

    drawers = [s for s in students if s.role == Role.DRAW]
    everyone = [drawer, reader, *students, trainer]
    result = {
        "sessions": args.sessions,
        "browsers": args.browsers,
        "drawing": len(drawers),
        "browser_trainers": sum(s.role == Role.TRAIN for s in students),
        "runs_asked": args.runs,
        "epochs": args.epochs,
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "load_before": load_before},
        "class_wall_s": round(class_wall, 1),
        "total_wall_s": round(time.time() - BEGAN, 1),
        "pages_alone": page_answers([reader, drawer]),
        "pages_class": page_answers(students),
        "draw_alone": readings([drawer], ("runs", "class")),
        "draw_class": readings(drawers, ("runs", "class")),
        "draw_class_runs": readings(drawers, ("runs",)),
        "runs": runs,
        "run_alone": run_alone,
        "processes": processes,
        "benchmark_cpu_s": round(benchmark_cpu, 1),
        "failed_sessions": [f"{s.name}: {s.outcome.error}" for s in everyone if s.outcome.error],
    }
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
