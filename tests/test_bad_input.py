"""Everything a user can hand the engine broken: idx files, checkpoint folders, uploaded checkpoint files, links.
Each is refused with a one-line error of the engine's own type (DataError, CheckpointError), never a
traceback from deep inside torch, gzip or safetensors, and never a crash of the models list."""

from __future__ import annotations

import gzip
import json
import shutil
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save, save_file

from mnist_core.data.sources import DataError, load_folder, load_source
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.knobs import settings_from_link
from mnist_core.learning.models import build_model
from mnist_core.store.checkpoints import (
    CheckpointError,
    export_checkpoint,
    import_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_record,
    save_checkpoint,
    skipped_entries,
)

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8)
LABELS = [3, 1, 4, 1, 5, 9]


def idx(array: np.ndarray, magic: int) -> bytes:
    return (
        struct.pack(">I", magic)
        + b"".join(struct.pack(">I", n) for n in array.shape)
        + array.astype(np.uint8).tobytes()
    )


GOOD_IMAGES = idx(IMAGES, 0x0803)
GOOD_LABELS = idx(np.array(LABELS), 0x0801)


def corrupt_deflate(data: bytes) -> bytes:
    """A gzip file whose compressed stream is garbage (zlib fails before any CRC check)."""
    gz = bytearray(gzip.compress(data))
    gz[10] ^= 0xFF  # first byte of the deflate stream: an invalid block type
    return bytes(gz)


BAD_FOLDERS = {
    "images without labels": ({"t10k-images-idx3-ubyte": GOOD_IMAGES}, "no t10k-labels-idx1-ubyte"),
    "labels without images": ({"train-labels-idx1-ubyte.gz": gzip.compress(GOOD_LABELS)}, "no train-images-idx3-ubyte"),
    "no idx files at all": ({"README.txt": b"digits"}, "holds no MNIST idx files"),
    "truncated images": (
        {"t10k-images-idx3-ubyte": GOOD_IMAGES[:-300], "t10k-labels-idx1-ubyte": GOOD_LABELS},
        "not a valid MNIST idx file",
    ),
    "truncated labels": (
        {"t10k-images-idx3-ubyte": GOOD_IMAGES, "t10k-labels-idx1-ubyte": GOOD_LABELS[:-2]},
        "not a valid MNIST idx file",
    ),
    "header only": (
        {"t10k-images-idx3-ubyte": GOOD_IMAGES[:6], "t10k-labels-idx1-ubyte": GOOD_LABELS},
        "not a valid MNIST idx file",
    ),
    "empty file": (
        {"t10k-images-idx3-ubyte": b"", "t10k-labels-idx1-ubyte": GOOD_LABELS},
        "not a valid MNIST idx file",
    ),
    "gzip cut short": (
        {
            "t10k-images-idx3-ubyte.gz": gzip.compress(GOOD_IMAGES)[:-100],
            "t10k-labels-idx1-ubyte.gz": gzip.compress(GOOD_LABELS),
        },
        "not a valid MNIST idx file",
    ),
    "corrupt gzip stream": (
        {
            "t10k-images-idx3-ubyte.gz": corrupt_deflate(GOOD_IMAGES),
            "t10k-labels-idx1-ubyte.gz": gzip.compress(GOOD_LABELS),
        },
        "not a valid MNIST idx file",
    ),
    "corrupt gzip checksum": (
        {
            "t10k-images-idx3-ubyte.gz": gzip.compress(GOOD_IMAGES)[:-8] + b"\0" * 8,
            "t10k-labels-idx1-ubyte.gz": gzip.compress(GOOD_LABELS),
        },
        "not a valid MNIST idx file",
    ),
    ".gz that is not gzip": (
        {"t10k-images-idx3-ubyte.gz": GOOD_IMAGES, "t10k-labels-idx1-ubyte": GOOD_LABELS},
        "not a valid MNIST idx file",
    ),
    "wrong magic number": (
        {"t10k-images-idx3-ubyte": b"\x12\x34" + GOOD_IMAGES[2:], "t10k-labels-idx1-ubyte": GOOD_LABELS},
        "not a valid MNIST idx file",
    ),
    "labels file holds images": (
        {"t10k-images-idx3-ubyte": GOOD_IMAGES, "t10k-labels-idx1-ubyte": GOOD_IMAGES},
        "not a valid MNIST idx file",
    ),
    "images file holds labels": (
        {"t10k-images-idx3-ubyte": GOOD_LABELS, "t10k-labels-idx1-ubyte": GOOD_LABELS},
        "not a valid MNIST idx file",
    ),
    "float images": (
        {
            "t10k-images-idx3-ubyte": struct.pack(">IIII", 0x0D03, 6, 28, 28) + bytes(6 * 28 * 28 * 4),
            "t10k-labels-idx1-ubyte": GOOD_LABELS,
        },
        "not a valid MNIST idx file",
    ),
    "more images than labels": (
        {"t10k-images-idx3-ubyte": GOOD_IMAGES, "t10k-labels-idx1-ubyte": idx(np.array([1, 2, 3]), 0x0801)},
        "has 6 images but t10k-labels-idx1-ubyte has 3 labels",
    ),
    "32x32 images": (
        {
            "t10k-images-idx3-ubyte": idx(RNG.integers(0, 256, (6, 32, 32)), 0x0803),
            "t10k-labels-idx1-ubyte": GOOD_LABELS,
        },
        "holds (32, 32) images; 28x28 expected",
    ),
    "label 12": (
        {"t10k-images-idx3-ubyte": GOOD_IMAGES, "t10k-labels-idx1-ubyte": idx(np.array([3, 1, 4, 1, 12, 9]), 0x0801)},
        "labels outside 0-9",
    ),
    "absurd sizes in the header": (
        {
            "t10k-images-idx3-ubyte": struct.pack(">IIII", 0x0803, 2**31, 2**31, 28) + bytes(64),
            "t10k-labels-idx1-ubyte": GOOD_LABELS,
        },
        "not a valid MNIST idx file",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_damaged_idx_folders_are_refused_in_one_line(case, tmp_path):
    files, expected = BAD_FOLDERS[case]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError) as err:
        load_source(str(tmp_path))
    message = str(err.value)
    assert expected in message and "\n" not in message and len(message) < 300


def test_the_good_files_used_above_do_load(tmp_path):
    """Control for the table above: the undamaged files load, so each refusal is about its damage."""
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(GOOD_IMAGES))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(GOOD_LABELS)
    test = load_folder(tmp_path).test
    assert np.array_equal(test.images.numpy(), IMAGES) and test.labels.tolist() == LABELS


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_source(str(tmp_path / "nowhere"))


# ----- checkpoint folders -----


def good_checkpoint(folder) -> tuple:
    model = build_model("mlp-64x3")
    meta = {
        "architecture": "mlp-64x3",
        "name": "good",
        "config": TrainConfig(model="mlp-64x3").to_dict(),
        "metrics": {"accuracy": 0.5},
    }
    return model, save_checkpoint(model, meta, folder, run_id="good")


def edit_meta(**changes):
    def apply(path):
        meta = json.loads((path / "meta.json").read_text())
        meta.update(changes)
        (path / "meta.json").write_text(json.dumps(meta))

    return apply


def write_weights(make):
    def apply(path):
        tensors = make({k: v.clone() for k, v in build_model("mlp-64x3").state_dict().items()})
        save_file(tensors, str(path / "weights.safetensors"))

    return apply


def truncate(path):
    data = (path / "weights.safetensors").read_bytes()
    (path / "weights.safetensors").write_bytes(data[: len(data) // 2])


BAD_CHECKPOINTS = {
    "unknown architecture name": (edit_meta(architecture="resnet50"), "unknown architecture 'resnet50'"),
    "another architecture's name": (edit_meta(architecture="fast"), "tensor names do not match fast"),
    "renamed tensors": (
        write_weights(lambda t: {k.replace("hidden", "layers"): v for k, v in t.items()}),
        "tensor names do not match mlp-64x3",
    ),
    "a tensor missing": (write_weights(lambda t: {k: v for k, v in t.items() if k != "out.bias"}), "missing: out.bias"),
    "an extra tensor": (write_weights(lambda t: {**t, "spare": torch.zeros(1)}), "unexpected: spare"),
    "wrong shape": (
        write_weights(lambda t: {**t, "out.weight": torch.zeros(10, 65)}),
        "tensor out.weight has shape (10, 65), mlp-64x3 needs (10, 64)",
    ),
    "truncated weights": (truncate, "weights.safetensors is damaged"),
    "empty weights": (lambda p: (p / "weights.safetensors").write_bytes(b""), "weights.safetensors is damaged"),
    "pickled weights": (
        lambda p: torch.save(build_model("mlp-64x3").state_dict(), p / "weights.safetensors"),
        "weights.safetensors is damaged or not a safetensors file",
    ),
    "missing weights": (lambda p: (p / "weights.safetensors").unlink(), "weights.safetensors is missing"),
    "missing meta.json": (lambda p: (p / "meta.json").unlink(), "meta.json is missing"),
    "meta.json not JSON": (lambda p: (p / "meta.json").write_text("{'architecture': 'fast'"), "meta.json is damaged"),
    "meta.json binary": (lambda p: (p / "meta.json").write_bytes(b"\xff\xfe\x00\x01"), "meta.json is damaged"),
    "meta.json a list": (lambda p: (p / "meta.json").write_text("[1, 2]"), "metadata is not a JSON object"),
    "config a list": (edit_meta(config=[1, 2]), "field config should be a JSON object"),
    "config out of range": (edit_meta(config={"model": "mlp-64x3", "epochs": 500}), "epochs must be between 1 and 50"),
    "metrics a string": (edit_meta(metrics="great"), "field metrics should be a JSON object"),
    "accuracy a string": (edit_meta(metrics={"accuracy": "99%"}), "metrics.accuracy should be a number"),
    "name a number": (edit_meta(name=7), "field name should be a string"),
    "dataset title a number": (edit_meta(dataset={"title": 7}), "metadata field dataset.title should be a string"),
    "classes not names": (edit_meta(dataset={"classes": [0, 1]}), "dataset.classes should be a list of names"),
    "stopped a word": (
        edit_meta(metrics={"accuracy": 0.5, "stopped": "yes"}),
        "metrics.stopped should be true or false",
    ),
    "history entry a number": (edit_meta(history=[7]), "metadata field history[0] should be a JSON object"),
    "history entry without kind": (edit_meta(history=[{"step": 1}]), "history[0].kind is missing"),
    "history kind unknown": (
        edit_meta(history=[{"kind": "paused", "step": 1}]),
        "history[0].kind should be done | epoch | start | step | stopped",
    ),
    "history step a word": (
        edit_meta(history=[{"kind": "epoch", "step": 0}, {"kind": "step", "step": "one"}]),
        "history[1].step should be a whole number",
    ),
    "history step null": (
        edit_meta(history=[{"kind": "step", "step": None}]),
        "history[0].step should be a whole number",
    ),
    "history not a list": (edit_meta(history={"kind": "step"}), "metadata field history should be a list"),
    "parameters true": (edit_meta(parameters=True), "metadata field parameters should be a whole number"),
    "owner id a number": (edit_meta(owner={"id": 7, "name": "Ann"}), "metadata field owner.id should be a string"),
    "fine-tune without parent": (edit_meta(finetune={"personal": "mine"}), "metadata field finetune.parent is missing"),
    "no architecture": (edit_meta(architecture=None), "metadata field architecture is missing"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_damaged_checkpoints_are_refused_in_one_line(case, tmp_path):
    damage, expected = BAD_CHECKPOINTS[case]
    _, path = good_checkpoint(tmp_path)
    damage(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert expected in message and "\n" not in message and len(message) < 400


def test_a_damaged_record_never_breaks_the_models_list(tmp_path):
    model, good = good_checkpoint(tmp_path)
    damaged_records = [
        "unknown architecture name",
        "missing meta.json",
        "meta.json not JSON",
        "meta.json binary",
        "meta.json a list",
        "config a list",
        "config out of range",
        "metrics a string",
        "accuracy a string",
        "name a number",
        "dataset title a number",
        "classes not names",
        "stopped a word",
        "history entry a number",
        "history entry without kind",
        "history step a word",
        "history step null",
    ]
    for case in damaged_records:
        copy = tmp_path / case.replace(" ", "-").replace(".", "")
        shutil.copytree(good, copy)
        BAD_CHECKPOINTS[case][0](copy)
    listed = list_checkpoints(tmp_path)
    assert [c.run_id for c in listed] == ["good"]  # every malformed record is skipped, the good one stays
    assert len(skipped_entries(tmp_path)) == len(damaged_records)
    for c in listed:  # what the models page shows: name, accuracy, architecture
        assert isinstance(c.name, str) and isinstance(c.accuracy, float) and c.meta["architecture"] == "mlp-64x3"


def test_loading_something_that_is_not_a_checkpoint_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        load_checkpoint(tmp_path / "nothing-here")
    (tmp_path / "file.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        load_checkpoint(tmp_path / "file.safetensors")
    with pytest.raises(CheckpointError, match="meta.json is missing"):
        read_record(tmp_path)


# ----- uploaded checkpoint files -----


@pytest.fixture
def exported(tmp_path):
    _, path = good_checkpoint(tmp_path / "source")
    return export_checkpoint(path)


def with_meta(meta) -> bytes:
    return save(build_model("mlp-64x3").state_dict(), metadata={"digit_lab": json.dumps(meta)})


BAD_UPLOADS = {
    "empty file": (lambda data: b"", "not a valid Digit Lab checkpoint file"),
    "a few bytes": (lambda data: b"\x01\x02", "not a valid Digit Lab checkpoint file"),
    "cut in half": (lambda data: data[: len(data) // 2], "not a valid Digit Lab checkpoint file"),
    "a PNG": (lambda data: b"\x89PNG\r\n\x1a\n" + bytes(100), "not a valid Digit Lab checkpoint file"),
    "a zip (e.g. a .pt)": (lambda data: b"PK\x03\x04" + bytes(100), "refused without being opened"),
    "plain safetensors": (lambda data: save({"w": torch.zeros(2)}), "no Digit Lab metadata"),
    "metadata not JSON": (
        lambda data: save({"w": torch.zeros(2)}, metadata={"digit_lab": "{oops"}),
        "not a valid Digit Lab checkpoint file",
    ),
    "header is deeply nested JSON": (
        lambda data: (200_000).to_bytes(8, "little") + b"[" * 100_000 + b"]" * 100_000,
        "not a valid Digit Lab checkpoint file",
    ),
    "unknown architecture": (lambda data: with_meta({"architecture": "resnet50"}), "unknown architecture"),
    "weights of another model": (
        lambda data: save(
            build_model("cnn-pooled").state_dict(), metadata={"digit_lab": json.dumps({"architecture": "mlp-64x3"})}
        ),
        "tensor names do not match mlp-64x3",
    ),
    "config a list": (
        lambda data: with_meta({"architecture": "mlp-64x3", "config": ["x"]}),
        "field config should be a JSON object",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_in_one_line_and_nothing_is_saved(case, exported, models_dir):
    make, expected = BAD_UPLOADS[case]
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(make(exported))
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert list(models_dir.iterdir()) == []


def test_the_upload_control_is_accepted(exported, models_dir):
    """Control for the table above: the undamaged export imports fine."""
    path = import_checkpoint(exported)
    assert [c.run_id for c in list_checkpoints()] == [path.name]


BAD_LINKS = {  # ?key=value on the Train page's address -> what the message must say
    "epochs": ("99", "between 1 and 30"),
    "batch_size": ("100", "choose one of 8, 15, 16"),
    "lr": ("abc", "not a number"),
    "model": ("resnet50", "choose one of fast-strided, fast,"),
    "recipe": ("<script>", "choose one of fast,"),
    "optimizer": ("lion", "choose one of adamw"),
    "augment": ("maybe", "use 1 (on) or 0 (off)"),
    "seed": ("-1", "between 0 and"),
    "train_size": ("10", "between 500 and 4,000"),
}


@pytest.mark.parametrize("key", list(BAD_LINKS))
def test_link_settings_out_of_range_are_refused_with_the_allowed_values(key):
    value, expected = BAD_LINKS[key]
    settings, problems = settings_from_link({key: value, "epochs": "3"} if key != "epochs" else {key: value}, 4000, 500)
    assert key not in settings
    (problem,) = problems
    assert problem.startswith(f"{key}=") and expected in problem, problem
    if key != "epochs":
        assert settings == {"epochs": 3}  # one bad value spoils nothing else


def test_good_link_settings_parse_to_the_config_types():
    settings, problems = settings_from_link(
        {
            "recipe": "tutorial-mlp-sgd",
            "epochs": "3.0",
            "lr": "1e-3",
            "augment": "off",
            "batch_size": "64",
            "seed": "7",
            "train_size": "2000",
            "run": "abc",
        },
        4000,
    )
    assert problems == []
    assert settings == {
        "recipe": "tutorial-mlp-sgd",
        "epochs": 3,
        "lr": 0.001,
        "augment": False,
        "batch_size": 64,
        "seed": 7,
        "train_size": 2000,
    }
    config = TrainConfig(**{k: v for k, v in settings.items() if k != "recipe"}).validate()  # and training takes them
    assert config.epochs == 3
