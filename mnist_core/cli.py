"""`python -m mnist_core`: train, evaluate, predict, explain, dream, fine-tune, show a run's PyTorch code, list
models, benchmark, make a lab cluster's keys.

Contract other tools rely on: `train`, `evaluate` and `finetune` print one JSON object as their last line,
`predict` prints one JSON object per image, `dream` writes a PNG and prints one JSON object, `code` prints a standalone Python script (or writes it to `--out`),
`cluster-keys` prints the files it wrote, one a line, then what to do with them; bad input exits with code 2 and
one line on stderr.

Only the light modules are imported up front, so `--help` and bad arguments answer at once; torch and
the data/checkpoint code load once a command actually runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from mnist_core.data.splits import SPLITS
from mnist_core.i18n import DEFAULT, LANGUAGES
from mnist_core.learning.config import DEVICES, ConfigError
from mnist_core.learning.events import EventKind
from mnist_core.learning.knobs import add_cli_flags, bounded, cli_overrides
from mnist_core.learning.recipes import recipe_config


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; the contract is one line
        raise UsageError(message)


def _progress_bar():
    from tqdm import tqdm

    bar = tqdm(unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def on_event(event):
        if event.kind == EventKind.STEP:
            bar.total, bar.n = event.total_steps, event.step
            bar.set_postfix(
                epoch=f"{event.epoch}/{event.epochs}",
                loss=f"{event.loss:.3f}",
                img_s=f"{event.images_per_s:.0f}",
                refresh=False,
            )
            bar.refresh() if bar.n == bar.total else bar.update(0)
        elif event.kind == EventKind.EPOCH and event.val_acc is not None:
            when = f"epoch {event.epoch}/{event.epochs}" if event.epoch else "before training"
            bar.write(f"{when}: held-out accuracy {event.val_acc:.2%}", file=sys.stderr)  # stdout: JSON only
        elif event.kind in (EventKind.DONE, EventKind.STOPPED):
            bar.close()

    return on_event


def cmd_train(args) -> dict:
    overrides = _knob_overrides(args)
    from mnist_core.data.sources import load_source
    from mnist_core.learning.devices import resolve_device
    from mnist_core.store.checkpoints import CheckpointError, default_models_dir

    config = recipe_config(args.recipe, **overrides).validate()
    resolve_device(config.device)  # a missing GPU is refused before anything is loaded or trained
    out = Path(args.out) if args.out else default_models_dir()
    try:  # and so is a checkpoint folder that cannot be written, rather than after minutes of training
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot save checkpoints in {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise CheckpointError(f"cannot save checkpoints in {out}: the folder is not writable")
    source = load_source(args.dataset, args.data_dir)
    if source.notice:
        print(f"note: {source.notice}", file=sys.stderr)
    eval_source = load_source(args.eval_dataset, args.data_dir) if args.eval_dataset else None
    from mnist_core.runs.train import split_for_run, train_and_save

    data = split_for_run(source, args.split, config.seed, eval_source, args.eval_split)
    n_train = min(len(data.train), config.train_size or len(data.train))
    print(
        f"training {config.model} on {n_train:,} images of {source.title}; held out: {data.held_out_name}",
        file=sys.stderr,
    )
    bar, first_step = _progress_bar(), []

    def on_event(event) -> None:
        if event.kind == EventKind.STEP and not first_step:
            first_step.append(time.time())
        bar(event)

    outcome = train_and_save(
        config, source, args.split, eval_source, args.eval_split, on_event=on_event, models_dir=args.out
    )
    # How long this command took to start training (interpreter, imports, data): docs/performance.md follows it.
    startup = {"startup_s": round(first_step[0] - _process_started(), 2)} if first_step else {}
    return {**outcome.summary().to_dict(), **startup}


def _process_started() -> float:
    import psutil  # distributed's own dependency

    return psutil.Process().create_time()


def _knob_overrides(args) -> dict:
    """The config fields `train` and `code` take from their flags: the knobs', the device and the CPU threads."""
    return {
        **cli_overrides(args),
        **{k: v for k, v in {"device": args.device, "cpu_threads": args.threads}.items() if v is not None},
    }


def cmd_code(args) -> None:
    """The run `train` would do with the same flags, as a standalone PyTorch script
    (mnist_core/learning/pytorch_script.py)."""
    config = recipe_config(args.recipe, **_knob_overrides(args)).validate()
    from mnist_core.learning.pytorch_script import pytorch_script

    script = pytorch_script(config, args.lang)
    if args.out is None:
        sys.stdout.write(script)
        return
    try:
        Path(args.out).write_text(script, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {args.out}: {e.strerror or e}") from None
    print(f"wrote {args.out}; run it with: python {args.out} --data-dir FOLDER", file=sys.stderr)


def cmd_evaluate(args) -> dict:
    from mnist_core.data.sources import load_source
    from mnist_core.learning.evaluation import evaluate
    from mnist_core.store.checkpoints import load_checkpoint

    model, ckpt = load_checkpoint(args.checkpoint)
    source = load_source(args.dataset, args.data_dir)
    if source.notice:
        print(f"note: {source.notice}", file=sys.stderr)
    split = source.split(args.split)
    report = evaluate(model, split, ckpt.config, args.device or "auto", source.classes)
    return {**report.summary(), "dataset": split.name, "checkpoint": str(ckpt.path)}


def _answer_each(paths: list[str], answer) -> None:
    """One JSON line per image, `answer(path, bytes)` for the readable ones; one bad file must not cost the others
    their answer, and the command still fails (exit 2) at the end if any could not be read."""
    from mnist_core.data.preprocess import ImageError

    errors = []
    for path in paths:
        try:
            try:
                data = Path(path).read_bytes()
            except OSError as e:
                raise ImageError(f"cannot read {path}: {e.strerror}") from None
            line = {"file": path, **answer(path, data)}
        except ImageError as e:
            errors.append(" ".join(str(e).split()))
            line = {"file": path, "digit": None, "error": errors[-1]}
        print(json.dumps(line), flush=True)
    if errors:
        raise ImageError(f"{len(errors)} of {len(paths)} images could not be read (first: {errors[0]})")


def cmd_predict(args) -> None:
    from mnist_core.data.preprocess import load_image
    from mnist_core.insight.inference import predict_image
    from mnist_core.store.checkpoints import load_checkpoint

    model, ckpt = load_checkpoint(args.checkpoint)
    _answer_each(args.images, lambda path, data: predict_image(model, ckpt.config, load_image(data)).to_dict())


def cmd_explain(args) -> None:
    """Like predict, plus the 28x28 image the model read, which pixels pushed it towards the digit, its layers."""
    import numpy as np

    from mnist_core.data.preprocess import load_image
    from mnist_core.insight.explain import Explainer, layer_outputs
    from mnist_core.store.checkpoints import load_checkpoint

    model, ckpt = load_checkpoint(args.checkpoint)
    explainer = Explainer(model, ckpt.config)
    layers = [layer.info() for layer in layer_outputs(model, explainer.input(np.zeros((28, 28), np.uint8)))]

    def explain_one(path: str, data: bytes) -> dict:
        inside = explainer.look(load_image(data), top=0)
        line = {
            "digit": inside.digit,
            "confidence": None,
            "probabilities": None,
            "image28": None,
            "attribution": None,
            "method": args.method,
            "layers": layers,
        }
        if inside.digit is not None:
            target = inside.digit if args.target is None else args.target
            attribution = explainer.attribute(inside.image28, [target], args.method)[0]
            line.update(
                confidence=round(float(inside.probabilities.max()), 6),
                probabilities=[round(float(p), 6) for p in inside.probabilities],
                image28=inside.image28.tolist(),
                target=target,
                attribution=[[round(float(v), 6) for v in row] for row in attribution],
            )
        return line

    _answer_each(args.images, explain_one)


def cmd_dream(args) -> dict:
    """What the model imagines: the picture that makes it surest of --digit, or that most excites one channel."""
    from PIL import Image

    from mnist_core.insight.dream import DreamSettings, dream_channel, dream_digit
    from mnist_core.store.checkpoints import load_checkpoint

    if (args.digit is None) == (args.layer is None):
        raise UsageError("give either --digit D, or --layer L with --channel K")
    if args.layer is not None and args.channel is None:
        raise UsageError("--layer needs --channel K")
    model, ckpt = load_checkpoint(args.checkpoint)
    settings = DreamSettings(seed=args.seed, start=args.start)
    try:
        if args.digit is not None:
            dream = dream_digit(model, ckpt.config, args.digit, settings)
        else:
            dream = dream_channel(model, ckpt.config, args.layer, args.channel, settings)
    except ValueError as e:
        raise UsageError(str(e)) from None
    # Dark ink on white paper, ten times the size: a picture to look at, as the app shows it.
    picture = Image.fromarray(255 - dream.as_uint8()).resize((28 * args.scale,) * 2, Image.NEAREST)
    try:
        picture.save(args.out)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot write {args.out}: {e}") from None
    return {
        "out": str(args.out),
        "digit": dream.digit,
        "layer": dream.layer,
        "channel": dream.channel,
        "probability": None if dream.probability is None else round(dream.probability, 6),
    }


def cmd_finetune(args) -> dict:
    from mnist_core.data.sources import load_source
    from mnist_core.runs.finetune import finetune

    personal = load_source(args.dataset, args.data_dir)
    personal_eval = load_source(args.eval_dataset, args.data_dir) if args.eval_dataset else None
    reference = None
    if args.reference:
        reference_source = load_source(args.reference, args.data_dir)
        if reference_source.notice:
            print(f"note: {reference_source.notice}", file=sys.stderr)
        reference = reference_source.split(args.reference_split)
    for source in (personal, personal_eval):
        if source is not None and source.notice:
            print(f"note: {source.notice}", file=sys.stderr)
    summary = finetune(
        args.checkpoint,
        personal,
        personal_eval,
        reference,
        epochs=args.epochs,
        seed=args.seed,
        on_event=_progress_bar(),
        models_dir=args.out,
    )
    if summary.notice:
        print(f"note: {summary.notice}", file=sys.stderr)
    print(f"personal: {summary.n_personal_eval} held-out drawings; reference: {summary.reference}", file=sys.stderr)
    return summary.to_dict()


def cmd_models(args) -> None:
    from mnist_core.store.checkpoints import default_models_dir, list_checkpoints, skipped_entries

    models_dir = Path(args.out) if args.out else default_models_dir()
    checkpoints = list_checkpoints(models_dir)
    if not checkpoints:
        print(f"no saved models in {models_dir}")
    for c in checkpoints:
        acc = f"{c.accuracy:.2%}" if c.accuracy is not None else "-"
        print(f"{c.run_id}\t{c.record.architecture}\t{acc}\t{c.name}")
    for name in skipped_entries(models_dir):
        print(f"note: skipped {name} (not a complete Digit Lab checkpoint)", file=sys.stderr)


# The benchmarks sit beside the engine in a checkout, not inside it: `bench` runs their script as a process of its own.
BENCH_SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def cmd_bench(args) -> None:
    if not BENCH_SCRIPT.is_file():
        raise UsageError(f"bench runs the benchmarks of a Digit Lab checkout, and {BENCH_SCRIPT} is not there")
    import subprocess

    flags = [flag for flag, on in (("--quick", args.quick), ("--recipes", args.recipes)) if on]
    flags += ["--seeds", str(args.seeds)] if args.seeds else []
    rc = subprocess.run([sys.executable, str(BENCH_SCRIPT), *flags]).returncode
    if rc:  # the benchmark has said why on stderr; pass its exit status on (a signal as 128 + its number)
        raise SystemExit(rc if rc > 0 else 128 - rc)


def cmd_cluster_keys(args) -> None:
    from mnist_core.classroom.keys import make_keys, next_steps

    for path in make_keys(args.dir, force=args.force):
        print(path)
    print(next_steps(args.dir))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mnist_core", description="Digit Lab engine: train and use MNIST models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and save a checkpoint")
    t.add_argument("--dataset", default="mnist", help="mnist, mnist-sample, fashion-mnist or a folder of idx files")
    t.add_argument("--split", default="train", choices=SPLITS, help="which part of the dataset to train on")
    add_cli_flags(t)  # --recipe, --model, --epochs, ...: the Train page's knobs (mnist_core/learning/knobs.py)
    t.add_argument("--device", choices=DEVICES)
    t.add_argument("--threads", type=bounded(int, "cpu_threads"), help="CPU threads (0 = one per core)")
    t.add_argument("--eval-dataset", help="score on this dataset's --eval-split instead of the default held-out set")
    t.add_argument("--eval-split", default="test", choices=SPLITS)
    t.add_argument("--out", help="folder for checkpoints (default: models/)")
    t.add_argument("--data-dir", help="where idx files are found and downloaded (default: data/)")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("code", help="print the standalone PyTorch script of the run `train` would do")
    add_cli_flags(c)  # the same knob flags as `train`, so the same flags give the same run
    c.add_argument("--device", choices=DEVICES, help="the device the script picks by default")
    c.add_argument("--threads", type=bounded(int, "cpu_threads"), help="CPU threads (0 = one per core)")
    c.add_argument("--lang", default=DEFAULT, choices=list(LANGUAGES), help="the language of the script's comments")
    c.add_argument("--out", help="write the script to this file instead of printing it")
    c.set_defaults(func=cmd_code)

    e = sub.add_parser("evaluate", help="score a saved checkpoint on a dataset")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--dataset", default="mnist")
    e.add_argument("--split", default="test", choices=SPLITS)
    e.add_argument("--device", choices=DEVICES)
    e.add_argument("--data-dir")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="read the digit in one or more image files")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=cmd_predict)

    x = sub.add_parser("explain", help="read image files and say which pixels pushed the model to its answer")
    x.add_argument("--checkpoint", required=True)
    x.add_argument(
        "--target",
        type=int,
        choices=range(10),
        metavar="DIGIT",
        help="explain this digit's score instead of the predicted one",
    )
    x.add_argument(
        "--method",
        default="occlusion",
        choices=["occlusion", "gradients"],
        help="occlusion: cover patches and watch the score; gradients: integrated gradients",
    )
    x.add_argument("images", nargs="+", metavar="IMAGE")
    x.set_defaults(func=cmd_explain)

    d = sub.add_parser("dream", help="draw what a saved model imagines a digit (or one channel) looks like")
    d.add_argument("--checkpoint", required=True)
    d.add_argument("--digit", type=int, help="the digit to dream of")
    d.add_argument("--layer", help="a convolution layer's name (see `explain`'s layers), with --channel")
    d.add_argument("--channel", type=int, help="the channel of --layer whose favourite pattern to draw")
    d.add_argument("--start", choices=("blank", "noise"), default="blank", help="blank paper or faint random ink")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--scale", type=int, default=10, help="pixels per dreamt pixel in the PNG (default 10)")
    d.add_argument("--out", required=True, help="the PNG to write")
    d.set_defaults(func=cmd_dream)

    f = sub.add_parser("finetune", help="teach a saved model a collection of your own digits, without forgetting")
    f.add_argument("--checkpoint", required=True, help="the saved model to start from")
    f.add_argument("--dataset", required=True, help="a folder of digit folders (0/ to 9/) of images")
    f.add_argument("--eval-dataset", help="score the personal accuracy on this folder instead of a held-out 25%%")
    f.add_argument("--epochs", type=bounded(int, "epochs"), default=4)
    f.add_argument("--seed", type=bounded(int, "seed"), default=0)
    f.add_argument("--reference", help="score the reference accuracy on this dataset instead of the parent's own")
    f.add_argument("--reference-split", default="test", choices=SPLITS)
    f.add_argument("--out", help="folder for the new checkpoint (default: models/)")
    f.add_argument("--data-dir", help="where idx files are found (default: data/)")
    f.set_defaults(func=cmd_finetune)

    m = sub.add_parser("models", help="list saved checkpoints")
    m.add_argument("--out", help="checkpoint folder (default: models/)")
    m.set_defaults(func=cmd_models)

    b = sub.add_parser("bench", help="print speed and accuracy figures for this machine")
    b.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    b.add_argument("--recipes", action="store_true", help="also train the seed tutorials' recipes (takes minutes)")
    b.add_argument("--seeds", type=int, help="seeds for the time to accuracy, reported as their median (default 3)")
    b.set_defaults(func=cmd_bench)

    k = sub.add_parser("cluster-keys", help="make a class's certificate authority and its lab cluster's TLS keys")
    k.add_argument("dir", metavar="DIR", help="the folder for the keys (made if missing)")
    k.add_argument("--force", action="store_true", help="replace the keys already in DIR (a new authority)")
    k.set_defaults(func=cmd_cluster_keys)
    return parser


def _fail(e: Exception) -> int:
    message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)  # always one line
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        return _fail(e)
    from mnist_core.data.preprocess import ImageError
    from mnist_core.data.sources import DataError
    from mnist_core.store.checkpoints import CheckpointError

    try:
        result = args.func(args)
    except (UsageError, ConfigError, DataError, CheckpointError, ImageError, KeyError, RuntimeError) as e:
        return _fail(e)
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-written was saved", file=sys.stderr)
        return 130
    if isinstance(result, dict):
        print(json.dumps(result), flush=True)
    return 0
