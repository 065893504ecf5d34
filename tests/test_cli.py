"""`python -m mnist_core` as other tools use it: train/evaluate print one JSON object as their last line,
predict prints one JSON line per image, models lists checkpoints, and bad input exits with code 2 and
exactly one line on stderr (no traceback). Training runs as its own process once, end to end; the other commands
run through the same `main()` in this process, which has torch loaded already."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_core.cli import main
from mnist_core.data.preprocess import load_image
from mnist_core.insight.inference import predict_image
from mnist_core.store.checkpoints import load_checkpoint, read_record

REPO = Path(__file__).resolve().parent.parent


def cli_env(dirs: Path) -> dict:
    return {
        **os.environ,
        "DIGIT_LAB_MODELS": str(dirs / "models"),
        "DIGIT_LAB_DATA": str(dirs / "data"),
        "OMP_NUM_THREADS": "1",  # small models and single images run faster on one of the build machine's cores
        "DIGIT_LAB_CPU_THREADS": "1",  # and training too (it sets its threads itself)
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


def run_cli(*args, dirs: Path, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "mnist_core", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(dirs),
        cwd=REPO,
        timeout=timeout,
    )


def run_in_process(*args, dirs: Path) -> subprocess.CompletedProcess:
    """One command through the CLI's main() here, with the environment and output streams a process of its own
    would have: what it prints to stdout and stderr, and its exit code."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as env, redirect_stdout(out), redirect_stderr(err):
        env.setenv("DIGIT_LAB_MODELS", str(dirs / "models"))
        env.setenv("DIGIT_LAB_DATA", str(dirs / "data"))
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "models").mkdir()
    (root / "data").mkdir()
    return root


@pytest.fixture(scope="module")
def cli_trained(dirs):
    """One short CLI training run on the sample (a small MLP, 20 steps), shared by the tests below."""
    proc = run_cli(
        "train",
        "--dataset",
        "mnist-sample",
        "--epochs",
        "1",
        "--model",
        "mlp-64x3",
        "--train-size",
        "640",
        "--batch-size",
        "32",
        "--no-augment",
        "--threads",
        "1",
        dirs=dirs,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


BAD_ARGS = {
    "epochs 999": (["train", "--dataset", "mnist-sample", "--epochs", "999"], "outside the allowed range 1-50"),
    "unknown dataset": (["train", "--dataset", "cifar-10", "--epochs", "1"], "unknown dataset 'cifar-10'"),
    "missing checkpoint": (
        ["evaluate", "--checkpoint", "{root}/no-such-run", "--dataset", "mnist-sample"],
        "no checkpoint folder",
    ),
    "damaged checkpoint": (
        ["predict", "--checkpoint", "{root}/damaged", "{root}/notes.txt"],
        "weights.safetensors is damaged",
    ),
}


@pytest.fixture(scope="module")
def digit_files(trained_checkpoint, sample, dirs):
    """Three real test digits the model reads right, drawn big and off-centre (two PNGs on black, one JPEG
    dark on paper), and a blank canvas."""
    model, ckpt = load_checkpoint(trained_checkpoint)
    files, expected = [], []
    rng = np.random.default_rng(0)
    for i, (digit, label) in enumerate(zip(sample.test.images.numpy(), sample.test.labels.numpy())):
        if len(files) == 3:
            break
        if predict_image(model, ckpt.config, digit).digit != label:
            continue
        big = np.asarray(Image.fromarray(digit).resize((168, 168), Image.BILINEAR))
        canvas = np.zeros((300, 300), np.uint8)
        y, x = rng.integers(0, 132, size=2)
        canvas[y : y + 168, x : x + 168] = big
        paper = len(files) == 1
        path = dirs / (f"digit{i}.jpg" if paper else f"digit{i}.png")
        Image.fromarray(255 - canvas if paper else canvas).save(path)
        files.append(path)
        expected.append(int(label))
    blank = dirs / "blank.png"
    Image.new("RGBA", (280, 280), (0, 0, 0, 255)).save(blank)
    return files, expected, blank


@pytest.fixture(scope="module")
def cli_runs(cli_trained, trained_checkpoint, digit_files, dirs):
    """evaluate, models, predict and the bad-argument calls."""
    _, trained = cli_trained
    files, _, blank = digit_files
    (dirs / "notes.txt").write_text("buy milk\n")
    damaged = dirs / "damaged"
    shutil.copytree(trained["checkpoint"], damaged)
    (damaged / "weights.safetensors").write_bytes((damaged / "weights.safetensors").read_bytes()[:1000])
    (dirs / "models" / "not-a-model").mkdir()
    commands = {
        "evaluate": ["evaluate", "--checkpoint", trained["checkpoint"], "--dataset", "mnist-sample"],
        "models": ["models"],
        "predict": ["predict", "--checkpoint", trained_checkpoint, *files, blank],
        "predict with bad files": [
            "predict",
            "--checkpoint",
            trained_checkpoint,
            files[0],
            dirs / "notes.txt",
            dirs / "nowhere.png",
            files[1],
        ],
        **{
            case: [a.format(root=dirs, good=trained["checkpoint"]) for a in args]
            for case, (args, _) in BAD_ARGS.items()
        },
    }
    return {name: run_in_process(*args, dirs=dirs) for name, args in commands.items()}


def test_train_prints_a_json_summary_as_its_last_line(cli_trained, dirs):
    proc, summary = cli_trained
    assert len(proc.stdout.strip().splitlines()) == 1  # stdout carries only the JSON; progress goes to stderr
    assert 0.5 < summary["accuracy"] <= 1  # one epoch on 640 digits: far above chance (0.1)
    assert summary["seconds"] > 0 and summary["images_per_s"] > 0
    assert summary["startup_s"] > 0  # process start -> first step, for `bench`'s start-up figure
    assert summary["n_train"] == 640 and summary["n_test"] == 1000
    assert summary["evaluated_on"] == "MNIST sample / test" and summary["stopped"] is False
    checkpoint = Path(summary["checkpoint"])
    assert checkpoint.parent == dirs / "models" and (checkpoint / "weights.safetensors").is_file()
    assert "held-out accuracy" in proc.stderr and "Traceback" not in proc.stderr
    _, ckpt = load_checkpoint(checkpoint)
    assert ckpt.accuracy == summary["accuracy"] and ckpt.config.train_size == 640 and ckpt.config.model == "mlp-64x3"


def test_evaluate_prints_accuracy_loss_and_n(cli_trained, cli_runs):
    _, trained = cli_trained
    proc = cli_runs["evaluate"]
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n"] == 1000 and report["dataset"] == "MNIST sample / test"
    # The same model on the same held-out digits: the same figures as at the end of training.
    assert report["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-9)
    assert report["loss"] == pytest.approx(trained["loss"], rel=1e-4)


def test_models_lists_saved_checkpoints_and_notes_foreign_folders(cli_trained, cli_runs):
    _, trained = cli_trained
    proc = cli_runs["models"]
    assert proc.returncode == 0, proc.stderr
    run_id = Path(trained["checkpoint"]).name
    [row] = [line.split("\t") for line in proc.stdout.splitlines() if line.startswith(run_id)]
    assert row[1] == "mlp-64x3" and row[2] == f"{trained['accuracy']:.2%}"
    assert "skipped not-a-model" in proc.stderr


def test_predict_prints_one_json_line_per_image(trained_checkpoint, digit_files, cli_runs):
    files, expected, blank = digit_files
    proc = cli_runs["predict"]
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["file"] for r in rows] == [str(f) for f in files] + [str(blank)]
    model, ckpt = load_checkpoint(trained_checkpoint)
    for row, path, label in zip(rows, files, expected):
        assert row["digit"] == label
        assert len(row["probabilities"]) == 10 and sum(row["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert row["confidence"] == max(row["probabilities"])
        # The CLI reads an image exactly as the app does.
        in_process = predict_image(model, ckpt.config, load_image(path.read_bytes()))
        assert row["confidence"] == pytest.approx(in_process.confidence, abs=1e-5)
    assert rows[-1] == {"file": str(blank), "digit": None, "confidence": 0.0, "probabilities": None}


def test_predict_answers_every_readable_image_and_names_the_bad_ones(digit_files, cli_runs, dirs):
    """A text file and a missing file among real digits: each gets its own line, the digits are still read, and the
    command ends with exit code 2 and one line on stderr."""
    files, expected, _ = digit_files
    proc = cli_runs["predict with bad files"]
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["file"] for r in rows] == [
        str(files[0]),
        str(dirs / "notes.txt"),
        str(dirs / "nowhere.png"),
        str(files[1]),
    ]
    assert [r["digit"] for r in rows] == [expected[0], None, None, expected[1]]
    assert "not an image" in rows[1]["error"] and "cannot read" in rows[2]["error"]
    assert "error" not in rows[0] and "error" not in rows[3]
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 2 of 4 images could not be read"), proc.stderr


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_bad_arguments_exit_2_with_one_line_on_stderr(case, cli_runs):
    proc = cli_runs[case]
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and BAD_ARGS[case][1] in lines[0], proc.stderr


IN_PROCESS_BAD_ARGS = {
    "no command": ([], "required"),
    "unknown command": (["fit"], "invalid choice"),
    "learning rate not a number": (["train", "--lr", "fast"], "'fast' is not a number"),
    "fractional epochs": (["train", "--epochs", "2.5"], "'2.5' is not a number"),
    "batch size 0": (["train", "--batch-size", "0"], "outside the allowed range 8-1024"),
    "unknown recipe": (["train", "--recipe", "resnet"], "invalid choice"),
    "unknown model": (["train", "--dataset", "mnist-sample", "--model", "resnet"], "unknown model 'resnet'"),
    "unknown split": (["evaluate", "--checkpoint", "x", "--split", "valid"], "invalid choice"),
    "folder that does not exist": (["train", "--dataset", "./no/such/folder"], "no such folder"),
    "finetune on a folder without digits": (
        ["finetune", "--checkpoint", "{good}", "--dataset", "{tmp}"],
        "holds no MNIST idx files",
    ),
    "finetune on a folder that does not exist": (
        ["finetune", "--checkpoint", "{good}", "--dataset", "{tmp}/missing"],
        "no such folder",
    ),
    "checkpoint folder under a file": (
        ["train", "--dataset", "mnist-sample", "--out", "{tmp}/notes.txt/models"],
        "cannot save checkpoints in",
    ),
}


@pytest.mark.parametrize("case", list(IN_PROCESS_BAD_ARGS))
def test_more_bad_arguments_are_one_line_errors(case, tmp_path, capsys, cli_trained, models_dir):
    args, expected = IN_PROCESS_BAD_ARGS[case]
    (tmp_path / "notes.txt").write_text("x")
    good = cli_trained[1]["checkpoint"]
    assert main([a.format(tmp=tmp_path, good=good) for a in args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: ") and expected in err, err
    assert list(models_dir.iterdir()) == []  # nothing was trained or saved


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_fails_before_training(capsys, models_dir):
    assert main(["train", "--dataset", "mnist-sample", "--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert err == "error: device 'cuda' was asked for but no CUDA GPU is available\n" and out == ""


def test_help_answers_without_loading_torch():
    """Bad arguments and --help need no torch: they answer at once, even on a busy machine."""
    code = (
        "import sys; from mnist_core.cli import main; rc = main(['train', '--epochs', '0']); "
        "print(rc, 'torch' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert proc.stdout.split() == ["2", "False"], proc.stderr


FINETUNE_CONTRACT = [
    "personal_before",
    "personal_after",
    "reference_before",
    "reference_after",
    "n_personal_train",
    "n_personal_eval",
    "seconds",
    "checkpoint",
]


def test_cli_finetune_prints_the_contract(bubble_digits, trained_checkpoint, tmp_path):
    ok = run_in_process(
        "finetune",
        "--checkpoint",
        trained_checkpoint,
        "--dataset",
        bubble_digits,
        "--epochs",
        1,
        "--out",
        tmp_path / "out",
        dirs=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout.strip().splitlines()[-1])
    assert list(result) == FINETUNE_CONTRACT
    assert result["n_personal_train"] == 90 and 0 <= result["personal_after"] <= 1
    assert read_record(result["checkpoint"]).finetune.parent == read_record(trained_checkpoint).run_id
