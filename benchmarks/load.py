"""Draw-to-prediction latency with eight browser sessions on one server, while a training run goes and without.

    .venv/bin/python benchmarks/load.py [--rounds 10] [--idle-rounds 10] [--solo-rounds 10] [--checkpoint DIR]

The scenario is tests/load_scenario.py, the one tests/test_load.py asserts, with more rounds: the real app under
`streamlit run`, eight Playwright browser contexts in one headless Chromium, each driven at the same time by its
own asyncio task. One session trains on the Train page (30 epochs, stopped when the others are done), five
draw their own digit on the Draw page `--rounds` times while the run goes and `--idle-rounds` times after it
was stopped, and two browse Explore. Then, for comparison, one session draws `--solo-rounds` times alone.

Each latency is measured in the browser: from the mouse-up that ends the stroke to the Prediction metric
appearing in the page (a MutationObserver), so it includes the canvas sending its image, the server's script
run, the way back and React rendering. It is also split at the moment the page sends the drawing to the server
(streamlit-drawable-canvas 0.13 waits 200 ms after the last change before it sends: `Bc = 200` in its bundle).
The model is the fast CNN trained for 3 epochs on the bundled sample (as in the tests), or --checkpoint.
The target from issue 6: median under 200 ms while training runs.

Prints the figures, the CPU seconds the server and the browser used, then one JSON line. A benchmark, not a
test: nothing is asserted. The browsers run on the same cores as the server here (not so for real users), so
run it on a quiet machine and read the CPU split with the latencies.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app_vs_cli import browser_pids, cpu_seconds  # noqa: E402
from load_scenario import Scenario, failures, latencies  # noqa: E402

from harness.browser import Server  # noqa: E402
from mnist_core.store.checkpoints import delete_checkpoint, list_checkpoints  # noqa: E402

TARGET_MEDIAN_MS = 200


def log(message: str) -> None:
    print(f"[load] {message}", file=sys.stderr, flush=True)


def figures(outcomes, phase: str) -> dict:
    ms = latencies(outcomes, phase)
    if not ms:
        return {"n": 0}
    sent = latencies(outcomes, phase, "to_send_ms")
    rest = [a - b for a, b in zip(ms, sent)]
    wrong = sum(r["value"] != str(o.digit) for o in outcomes for r in o.readings if r["phase"] == phase)
    return {
        "n": len(ms),
        "median_ms": round(float(np.median(ms))),
        "p95_ms": round(float(np.percentile(ms, 95))),
        "max_ms": round(max(ms)),
        "median_to_send_ms": round(float(np.median(sent))),
        "median_send_to_shown_ms": round(float(np.median(rest))),
        "wrong": wrong,
    }


class CpuMeter:
    """CPU seconds of the server and of every Chromium process that lived while it ran (sampled twice a second,
    so processes that end are still counted up to their last sample)."""

    def __init__(self, server_pid: int):
        self.server_pid, self.seen, self._stop = server_pid, {}, threading.Event()
        self._start = cpu_seconds([server_pid])
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for pid in browser_pids():
                self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds([pid]))

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {
            "server_cpu_s": round(cpu_seconds([self.server_pid]) - self._start, 1),
            "browser_cpu_s": round(sum(self.seen.values()), 1),
        }


def scenario(server: Server, keep: set[str], **kwargs) -> tuple[list, dict, float]:
    """One run of the scenario; afterwards the models its training run saved are removed, so that every
    scenario's drawing sessions read with the same model."""
    meter, started = CpuMeter(server.proc.pid), time.time()
    outcomes = Scenario(server, **kwargs).run()
    wall, cpu = time.time() - started, meter.stop()
    for c in list_checkpoints(server.models):
        if c.run_id not in keep:
            delete_checkpoint(c.path)
    failed = failures(outcomes)
    if failed:
        raise SystemExit("a session failed:\n" + "\n".join(failed[:2]) + f"\n{server.output()}")
    return outcomes, cpu, wall


def prepare_model(args, models: Path) -> None:
    if args.checkpoint:
        shutil.copytree(args.checkpoint, models / Path(args.checkpoint).name)
        return
    import torch

    from mnist_core.data.sources import load_source
    from mnist_core.learning.recipes import recipe_config
    from mnist_core.runs.train import train_and_save

    log("training the model the drawing sessions use (fast CNN, 3 epochs on the bundled sample, as the tests do)")
    torch.set_num_threads(1)
    train_and_save(recipe_config("fast", epochs=3), load_source("mnist-sample"), models_dir=models)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="digits each drawing session draws while training")
    parser.add_argument("--idle-rounds", type=int, default=10, help="... and after the run was stopped")
    parser.add_argument("--solo-rounds", type=int, default=10, help="digits one session draws alone afterwards")
    parser.add_argument("--checkpoint", help="a saved model folder to draw with (default: train one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="digit-lab-load-") as work:
        models = Path(work) / "models"
        models.mkdir()
        prepare_model(args, models)
        keep = {c.run_id for c in list_checkpoints(models)}
        server = Server(models, env={"DIGIT_LAB_CPU_THREADS": "0"})  # training on every core, as for a user
        try:
            log(
                f"8 sessions: 1 training, 5 drawing ({args.rounds} digits while training, {args.idle_rounds} after), "
                "2 on Explore"
            )
            full, cpu_full, wall_full = scenario(server, keep, rounds=args.rounds, idle_rounds=args.idle_rounds)
            log(f"1 drawing session alone ({args.solo_rounds} digits)")
            solo, cpu_solo, wall_solo = scenario(
                server, keep, draw=1, explore=0, rounds=0, idle_rounds=args.solo_rounds
            )
        finally:
            server.stop()

    result = {
        "training_8_sessions": figures(full, "training"),
        "no_training_8_sessions": figures(full, "idle"),
        "alone_no_training": figures(solo, "idle"),
        "cpu_8_sessions": {**cpu_full, "wall_s": round(wall_full, 1)},
        "cpu_alone": {**cpu_solo, "wall_s": round(wall_solo, 1)},
        "target_median_ms": TARGET_MEDIAN_MS,
    }
    print("draw-to-prediction latency, mouse-up to the Prediction metric in the page:")
    for key, title in (
        ("training_8_sessions", "8 sessions, training running"),
        ("no_training_8_sessions", "8 sessions, no training"),
        ("alone_no_training", "1 session alone, no training"),
    ):
        f = result[key]
        if not f["n"]:
            continue
        print(
            f"  {title:31s} median {f['median_ms']} ms, p95 {f['p95_ms']} ms, max {f['max_ms']} ms "
            f"({f['n']} readings, {f['wrong']} read as another digit); median split: "
            f"{f['median_to_send_ms']} ms until the page sends the drawing, "
            f"{f['median_send_to_shown_ms']} ms from there to the metric"
        )
    median = result["training_8_sessions"].get("median_ms")
    verdict = "met" if median is not None and median < TARGET_MEDIAN_MS else "MISSED"
    print(f"  target: median under {TARGET_MEDIAN_MS} ms while training runs: {verdict}")
    for key, title in (("cpu_8_sessions", "8-session scenario"), ("cpu_alone", "1-session scenario")):
        c = result[key]
        print(
            f"CPU seconds, {title}: server {c['server_cpu_s']}, browser {c['browser_cpu_s']} "
            f"in {c['wall_s']} s of wall time"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
