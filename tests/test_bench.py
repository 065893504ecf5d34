"""`python -m mnist_core bench`'s machinery, on tiny sizes: measuring, the report, the CLI's launch of it.

The real figures come from running the benchmark (minutes); here every step runs on a few hundred images,
and nothing asserts a time.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from harness.browser import REPO
from mnist_core import cli

JSON_KEYS = {  # what readers of the JSON line use (README figures, docs/performance.md), as before the move
    "top": {
        "bench",
        "quick",
        "device",
        "epoch",
        "memory",
        "batching",
        "time_to_accuracy",
        "speed_ratio",
        "draw",
        "recipes",
        "targets",
        "total_s",
        "startup",
    },
    "epoch": {"images", "data", "batch_size", "augment", "train_s", "wall_s", "images_per_s", "device"},
    "time_to_accuracy": {"accuracy", "train_s", "wall_s", "images_per_s", "epochs", "n_train", "n_test", "split"},
    "speed_ratio": {"reference_recipe", "reference_epoch_s", "accuracies", "median_accuracy", "ratio"},
    "draw": {"runs", "median_ms", "p95_ms", "max_ms", "read_correctly", "canvas"},
    "memory": {"peak_rss_mb", "rss_now_mb", "rss_before_training_mb", "rss_at_start_mb"},
    "targets": {"accuracy", "train_s", "draw_median_ms", "peak_rss_mb"},
    "batching": {
        "images",
        "data",
        "batch_size",
        "tutorial_images_per_s",
        "engine_images_per_s",
        "engine_aug_images_per_s",
        "speedup",
        "speedup_aug",
    },
}


@pytest.fixture(scope="module")
def tiny_results():
    """Every measuring step, as `bench --quick` runs them, on a few hundred images (one quick recipe too)."""
    from benchmarks.bench_measure import Sizes, measure_all, measure_recipes

    sizes = Sizes(
        batching_n=256,
        epoch_n=512,
        tta_epochs=1,
        tta_train_size=300,
        draw_runs=5,
        recipe_epochs=1,
        recipe_train_size=200,
        min_pass_s=0.0,
        seeds=2,
        startup_runs=0,  # fresh processes cost seconds each: the CLI's startup_s is checked in test_cli
    )
    results = measure_all(sizes, quick=True)
    return replace(results, recipes=measure_recipes(sizes, names=("tutorial-mlp-adam",)))


def test_measuring_steps_return_figures(tiny_results):
    from benchmarks.bench_measure import BatchingSkipped

    r = tiny_results
    assert r.epoch.images == 512 and r.epoch.images_per_s > 0
    assert r.time_to_accuracy.n_train == 300 and r.time_to_accuracy.epochs == 1
    assert 0 < r.time_to_accuracy.accuracy < 0.99  # 300 digits for one epoch: far from the target
    q = r.speed_ratio  # two seeds of the fast recipe against one epoch of the tutorial's small CNN
    assert q.seeds == [0, 1] and len(q.accuracies) == 2 and min(q.accuracies) <= q.median_accuracy <= max(q.accuracies)
    assert q.reference_recipe == "tutorial-cnn-small" and q.reference_epoch_s > 0
    assert q.ratio == round(q.median_train_s / q.reference_epoch_s, 2)
    assert len(q.peer_accuracies) == 2 and all(0 < a < 1 for a in q.peer_accuracies)  # the peer, same seeds
    assert q.peer_over_fast == round(q.peer_median_train_s / q.median_train_s, 2)
    assert r.device.precision.startswith("bfloat16" if r.device.bf16 else "float32")
    assert r.draw.runs == 5 and 0 < r.draw.median_ms <= r.draw.p95_ms <= r.draw.max_ms
    assert r.memory.peak_rss_mb >= r.memory.rss_at_start_mb > 0
    assert [row.recipe for row in r.recipes] == ["tutorial-mlp-adam"]
    if isinstance(r.batching, BatchingSkipped):
        pytest.skip(f"batching: {r.batching.skipped}")
    assert r.batching.images == 256 and r.batching.speedup > 0 and r.batching.batch_size == 64


def test_report_shows_figures_beside_targets(tiny_results):
    from benchmarks.bench_report import figures, render

    table = render(tiny_results)
    for section in (
        "1. Batching",
        "2. One full-size epoch",
        "3. Time to accuracy",
        "4. Seed tutorials' recipes",
        "5. Draw latency",
        "6. Memory",
        "7. Device",
        "8. Start-up",
    ):
        assert section in table
    assert "QUICK smoke test" in table
    accuracy_row = next(line for line in table.splitlines() if line.strip().startswith("accuracy"))
    assert ">= 99.0%" in accuracy_row and accuracy_row.endswith("(quick)")
    assert "median of 2 seeds" in accuracy_row
    ratio_row = next(line for line in table.splitlines() if "ratio: fast recipe" in line)
    assert f"{tiny_results.speed_ratio.ratio:.2f}x" in ratio_row and "<= 0.2x" in ratio_row
    peer_row = next(line for line in table.splitlines() if "peer's time / fast" in line)
    assert f"{tiny_results.speed_ratio.peer_over_fast:.2f}x" in peer_row and ">= 2.5x" in peer_row
    assert "ref 92.4% in 6 s" in table  # the recipe's reference figure beside its measured one

    # The real run judges each figure against its target; 300 digits for one epoch cannot reach 99%.
    judged = render(replace(tiny_results, quick=False))
    assert "QUICK" not in judged
    accuracy_row = next(line for line in judged.splitlines() if line.strip().startswith("accuracy"))
    assert accuracy_row.endswith("MISSED")
    draw_row = next(line for line in judged.splitlines() if "median / p95" in line)
    assert draw_row.endswith("ok" if tiny_results.draw.median_ms <= 20 else "MISSED")

    record = json.loads(json.dumps(figures(tiny_results)))  # one JSON object, every figure
    assert set(record) == JSON_KEYS["top"] and record["quick"] is True
    for part, keys in JSON_KEYS.items():
        if part != "top" and not (part == "batching" and "skipped" in record[part]):
            assert keys <= set(record[part]), part
    assert record["recipes"][0]["recipe"] == "tutorial-mlp-adam" and record["recipes"][0]["reference_accuracy"] == 0.924
    assert not any("model" in key for key in record["time_to_accuracy"])


def test_bench_script_runs_directly_from_anywhere(tmp_path):
    """`python benchmarks/bench.py` finds the engine from any folder; a wrong flag is refused by its parser."""
    script = REPO / "benchmarks" / "bench.py"
    shown = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0 and "--quick" in shown.stdout and "--recipes" in shown.stdout
    wrong = subprocess.run([sys.executable, str(script), "--fast"], cwd=tmp_path, capture_output=True, text=True)
    assert wrong.returncode == 2 and "--fast" in wrong.stderr
    no_seeds = subprocess.run(
        [sys.executable, str(script), "--seeds", "0"], cwd=tmp_path, capture_output=True, text=True
    )
    assert no_seeds.returncode == 2 and "--seeds must be at least 1" in no_seeds.stderr


def test_cli_bench_launches_the_script_with_its_flags(tmp_path, monkeypatch, capfd):
    fake = tmp_path / "bench.py"
    fake.write_text(
        "import json, sys\nprint(json.dumps({'argv': sys.argv[1:], 'python': sys.executable}))\n"
        "sys.exit(3 if '--recipes' in sys.argv else 0)\n"
    )
    monkeypatch.setattr(cli, "BENCH_SCRIPT", fake)

    assert cli.main(["bench", "--quick", "--seeds", "5"]) == 0
    launched = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    assert launched == {"argv": ["--quick", "--seeds", "5"], "python": sys.executable}

    with pytest.raises(SystemExit) as failed:  # the benchmark's own exit status comes back
        cli.main(["bench", "--quick", "--recipes"])
    assert failed.value.code == 3
    assert json.loads(capfd.readouterr().out.strip().splitlines()[-1])["argv"] == ["--quick", "--recipes"]


def test_cli_bench_without_the_benchmarks_folder(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "no-benchmarks" / "bench.py"
    monkeypatch.setattr(cli, "BENCH_SCRIPT", missing)
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(missing) in err


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_engine_never_imports_the_benchmarks():
    """Not at import time and not lazily inside a function: the engine works without the benchmarks folder."""
    bench_modules = {p.stem for p in (REPO / "benchmarks").glob("*.py")} - {"__init__"}
    for path in sorted((REPO / "mnist_core").rglob("*.py")):
        for name in _imported_names(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            assert top != "benchmarks" and top not in bench_modules and name != "mnist_core.bench", (path.name, name)
    assert not (REPO / "mnist_core" / "bench.py").exists()
