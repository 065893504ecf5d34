"""Checkpoints: save/list/load keeps the model exactly, saving is atomic, uploads are never unpickled,
export/import, rename/delete, and a folder that cannot be written. Damaged checkpoint files are covered
in test_bad_input.py."""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import shutil
import signal
from contextlib import contextmanager

import pytest
import torch
from safetensors.torch import save_file

from mnist_core.data.sources import DIGITS, normalize
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import EventKind
from mnist_core.learning.models import MODELS, build_model
from mnist_core.store.checkpoints import (
    CheckpointError,
    PackedCheckpoint,
    default_models_dir,
    delete_checkpoint,
    export_checkpoint,
    import_checkpoint,
    list_checkpoints,
    load_checkpoint,
    pack,
    parse_record,
    read_record,
    rename_checkpoint,
    save_checkpoint,
    save_packed,
    skipped_entries,
)
from ui.history import curves

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def batch(sample):
    """200 real test digits, normalised as in training."""
    return normalize(sample.test.images[:200], 0.1307, 0.3081)


def logits(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def fresh_meta(arch: str = "mlp-64x3", **extra) -> dict:
    return {"architecture": arch, "name": f"test {arch}", "config": TrainConfig(model=arch).to_dict(), **extra}


def test_save_list_load_round_trip_keeps_predictions_identical(trained_checkpoint, models_dir, batch):
    model, ckpt = load_checkpoint(trained_checkpoint)
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("format", "run_id", "created")}
    path = save_checkpoint(model, meta)  # default folder: $DIGIT_LAB_MODELS
    assert path.parent == models_dir == default_models_dir()
    listed = list_checkpoints()
    assert [c.run_id for c in listed] == [path.name]
    assert listed[0].name == ckpt.name and listed[0].accuracy == ckpt.accuracy >= 0.95
    again, record = load_checkpoint(path)
    assert not again.training and record.config == ckpt.config
    assert torch.equal(logits(again, batch), logits(model, batch))
    assert record.meta["history"] == ckpt.meta["history"]


def event(kind, step, epoch, **values) -> dict:
    return {
        "kind": kind,
        "step": step,
        "total_steps": 4,
        "epoch": epoch,
        "epochs": 2,
        "loss": None,
        "train_acc": None,
        "val_acc": None,
        "val_loss": None,
        "images_per_s": 0.0,
        "eta_s": None,
        "elapsed_s": 0.0,
        "lr": None,
        **values,
    }


# A meta.json as Digit Lab has always written it (a run stopped in its second epoch), plus a field from some other
# version that this one does not know.
OLD_META = {
    "format": "digit-lab-checkpoint/1",
    "run_id": "20260101-120000-mlp-64x3-ab12",
    "created": "2026-01-01T12:00:00",
    "name": "MLP 64x3 · 91.20% (stopped)",
    "architecture": "mlp-64x3",
    "parameters": 59210,
    "config": TrainConfig(model="mlp-64x3", epochs=2, batch_size=64, recipe="fast").to_dict(),
    "dataset": {
        "source": "mnist-sample",
        "title": "MNIST sample",
        "split": "train",
        "n_train": 4000,
        "evaluated_on": "MNIST sample / test",
        "classes": DIGITS,
        "augmented_with": "elastic",  # unknown here too
    },
    "normalisation": {"mean": 0.1307, "std": 0.3081},
    "metrics": {
        "accuracy": 0.912,
        "loss": 0.31,
        "n": 1000,
        "seconds": 3.25,
        "images_per_s": 2461.5,
        "device": "cpu",
        "stopped": True,
        "epochs_done": 1,
    },
    "history": [
        event("epoch", 0, 0, val_acc=0.1, val_loss=2.3),
        event("step", 1, 1, loss=2.0, train_acc=0.3),
        event("step", 2, 1, loss=1.0, train_acc=0.6),
        event("epoch", 2, 1, train_acc=0.6, val_acc=0.9),
        event("step", 3, 2, loss=0.5, train_acc=0.8),
    ],
    "comment": "from a newer Digit Lab",
}


def test_an_existing_meta_json_reads_as_typed_fields_and_is_written_back_unchanged(models_dir):
    folder = models_dir / OLD_META["run_id"]
    folder.mkdir()
    save_file(build_model("mlp-64x3").state_dict(), str(folder / "weights.safetensors"))
    (folder / "meta.json").write_text(json.dumps(OLD_META, indent=2))
    [ckpt] = list_checkpoints()
    record = ckpt.record
    assert (record.architecture, record.config.epochs, record.config.batch_size) == ("mlp-64x3", 2, 64)
    assert record.dataset.label == "MNIST sample" and record.dataset.classes == DIGITS
    assert record.metrics.stopped is True and record.metrics.epochs_done == 1 and ckpt.accuracy == 0.912
    assert [(e.kind, e.step) for e in record.history] == [
        ("epoch", 0),
        ("step", 1),
        ("step", 2),
        ("epoch", 2),
        ("step", 3),
    ]
    assert all(isinstance(e.kind, EventKind) for e in record.history)  # the saved text, read as the enum
    c = curves(record.history)  # the Train page's overlay of an earlier run
    assert list(c.step) == [1, 2, 3] and list(c.val_acc) == [0.1, 0.9]
    rename_checkpoint(folder, "renamed")
    assert json.loads((folder / "meta.json").read_text()) == {**OLD_META, "name": "renamed"}
    exported = export_checkpoint(folder)  # a download carries the same record in its header
    header = json.loads(exported[8 : 8 + int.from_bytes(exported[:8], "little")])
    assert json.loads(header["__metadata__"]["digit_lab"]) == {**OLD_META, "name": "renamed"}


def test_null_parts_and_whole_numbers_for_numbers_are_accepted_as_before():
    meta = {"architecture": "mlp-64x3", "config": None, "history": None, "owner": None, "metrics": {"accuracy": 1}}
    record = parse_record(meta, "test")
    assert record.config == TrainConfig() and record.history == [] and record.owner is None
    assert record.metrics.accuracy == 1 and record.to_dict()["metrics"] == {"accuracy": 1}


@pytest.mark.parametrize("arch", list(MODELS))
def test_every_architecture_round_trips(arch, tmp_path, batch):
    torch.manual_seed(1)
    model = build_model(arch)
    path = save_checkpoint(model, fresh_meta(arch), tmp_path)
    loaded, ckpt = load_checkpoint(path)
    assert ckpt.meta["architecture"] == arch and ckpt.run_id == path.name
    assert torch.equal(logits(loaded, batch[:20]), logits(model, batch[:20]))


def test_list_is_newest_first_and_skips_temporary_and_incomplete_folders(models_dir):
    first = save_checkpoint(build_model("mlp-64x3"), fresh_meta(), run_id="a-first")
    second = save_checkpoint(build_model("mlp-64x3"), fresh_meta(created="2999-01-01T00:00:00"), run_id="b-second")
    # What a crash mid-save leaves behind: a hidden temp folder, complete or not.
    shutil.copytree(first, models_dir / ".saving-x1y2z3")
    (models_dir / ".saving-half").mkdir()
    # A folder with a record but no weights, and one that is not a checkpoint at all.
    (models_dir / "no-weights").mkdir()
    shutil.copy(first / "meta.json", models_dir / "no-weights" / "meta.json")
    (models_dir / "holiday-photos").mkdir()
    assert [c.run_id for c in list_checkpoints()] == [second.name, first.name]
    assert skipped_entries() == ["holiday-photos", "no-weights"]


def test_saving_never_leaves_a_temporary_folder(models_dir):
    save_checkpoint(build_model("cnn-pooled"), fresh_meta("cnn-pooled"))
    names = os.listdir(models_dir)
    assert len(names) == 1 and not names[0].startswith(".")
    assert sorted(os.listdir(models_dir / names[0])) == ["meta.json", "weights.safetensors"]


def test_saving_refuses_weights_that_do_not_fit_the_named_architecture(models_dir):
    with pytest.raises(CheckpointError, match="tensor names do not match mlp-64x3"):
        save_checkpoint(build_model("fast"), fresh_meta("mlp-64x3"))
    with pytest.raises(CheckpointError, match="known architecture"):
        save_checkpoint(build_model("fast"), fresh_meta("resnet"))
    assert os.listdir(models_dir) == []


def test_a_run_id_is_never_overwritten(models_dir):
    save_checkpoint(build_model("mlp-64x3"), fresh_meta(), run_id="mine")
    with pytest.raises(CheckpointError, match="already exists"):
        save_checkpoint(build_model("mlp-64x3"), fresh_meta(name="other"), run_id="mine")
    assert read_record(models_dir / "mine").name == "test mlp-64x3"


class MakesAFile:
    """A pickle payload: unpickling it calls open(path, "w"), which creates the marker file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("kind", ["torch.save zip", "torch.save legacy", "pickle protocol 2", "pickle protocol 0"])
def test_a_pickle_upload_is_refused_without_being_unpickled(kind, tmp_path, models_dir):
    marker = tmp_path / "pwned"
    payload = {"weights": torch.zeros(3), "trap": MakesAFile(marker)}
    buf = io.BytesIO()
    if kind == "torch.save zip":
        torch.save(payload, buf)
    elif kind == "torch.save legacy":
        torch.save(payload, buf, _use_new_zipfile_serialization=False)
    else:
        pickle.dump(payload, buf, protocol=2 if kind.endswith("2") else 0)
    data = buf.getvalue()
    # The payload is live: unpickling it really does create the file.
    pickle.loads(data) if kind.startswith("pickle") else torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(data)
    assert "\n" not in str(err.value)
    if kind.startswith("torch"):
        assert "pickle" in str(err.value) and "refused without being opened" in str(err.value)
    assert not marker.exists()
    assert os.listdir(models_dir) == []


def test_export_then_import_gives_the_same_model_under_a_new_id(trained_checkpoint, models_dir, batch):
    data = export_checkpoint(trained_checkpoint)
    assert isinstance(data, bytes) and data[8:9] == b"{"  # a single safetensors file
    path = import_checkpoint(data)
    assert path.parent == models_dir and path.name != trained_checkpoint.name
    original, ckpt = load_checkpoint(trained_checkpoint)
    imported, record = load_checkpoint(path)
    assert torch.equal(logits(imported, batch), logits(original, batch))
    assert record.name.endswith("(uploaded)") and record.accuracy == ckpt.accuracy
    assert record.meta["config"] == ckpt.meta["config"]
    assert [c.run_id for c in list_checkpoints()] == [path.name]
    path2 = import_checkpoint(data)  # the same file twice: two checkpoints, nothing overwritten
    assert path2 != path and len(list_checkpoints()) == 2


def test_an_export_whose_header_length_starts_like_a_pickle_is_still_accepted(trained_checkpoint, models_dir):
    """A safetensors header of 0x0280 bytes begins the file with 0x80 0x02, as a pickle begins: it is no pickle."""
    data = export_checkpoint(trained_checkpoint)
    n = int.from_bytes(data[:8], "little")
    padded = 0x0280 + 0x100 * ((n - 0x0280 + 0xFF) // 0x100)  # the next length whose low byte is 0x80
    data = padded.to_bytes(8, "little") + data[8 : 8 + n] + b" " * (padded - n) + data[8 + n :]
    assert data[:1] == b"\x80"
    load_checkpoint(import_checkpoint(data))


def test_rename_changes_the_display_name_only(models_dir):
    path = save_checkpoint(build_model("mlp-64x3"), fresh_meta())
    before = list_checkpoints()[0].name  # listed once: the listing remembers what it read
    rename_checkpoint(path, "  My first net (v2)  ")
    [ckpt] = list_checkpoints()
    assert ckpt.name == "My first net (v2)" != before and ckpt.run_id == path.name
    rename_checkpoint(path, "My first net (v3)")  # same length, right after: still seen
    assert list_checkpoints()[0].name == "My first net (v3)"
    rename_checkpoint(path, "  My first net (v2)  ")
    for bad in ("", "   ", "x" * 81, "../../etc", "name\nwith newline", "<script>"):
        with pytest.raises(CheckpointError, match="a name needs"):
            rename_checkpoint(path, bad)
    assert list_checkpoints()[0].name == "My first net (v2)"


def test_delete_removes_the_checkpoint_and_refuses_other_folders(models_dir):
    keep = save_checkpoint(build_model("mlp-64x3"), fresh_meta(), run_id="keep")
    gone = save_checkpoint(build_model("mlp-64x3"), fresh_meta(), run_id="gone")
    delete_checkpoint(gone)
    assert not gone.exists() and [c.run_id for c in list_checkpoints()] == ["keep"]
    assert os.listdir(models_dir) == ["keep"]  # nothing half-deleted left behind
    other = models_dir / "my-documents"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(CheckpointError):
        delete_checkpoint(other)
    assert (other / "thesis.txt").read_text() == "precious" and keep.exists()


@contextmanager
def file_size_limit(max_bytes: int):
    """Make every write beyond max_bytes fail with EFBIG, as a full disk would (works for root too)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_an_unwritable_models_folder_gives_a_clear_error_and_keeps_earlier_models(models_dir, batch):
    model = build_model("mlp-64x3")
    earlier = save_checkpoint(model, fresh_meta(), run_id="earlier")
    if os.geteuid() != 0:
        os.chmod(models_dir, 0o555)
        target = models_dir
    else:  # root ignores permission bits: a "folder" whose parent is a file cannot be written by anyone
        target = earlier / "meta.json" / "models"
    try:
        with pytest.raises(CheckpointError) as err:
            save_checkpoint(model, fresh_meta(), target)
    finally:
        os.chmod(models_dir, 0o755)
    assert "could not save the checkpoint" in str(err.value) and "\n" not in str(err.value)
    assert [c.run_id for c in list_checkpoints()] == ["earlier"]
    loaded, _ = load_checkpoint(earlier)
    assert torch.equal(logits(loaded, batch), logits(model, batch))


def test_a_disk_full_during_save_leaves_no_trace(models_dir):
    earlier = save_checkpoint(build_model("mlp-64x3"), fresh_meta(), run_id="earlier")
    with file_size_limit(4096), pytest.raises(CheckpointError) as err:
        save_checkpoint(build_model("mlp-64x3"), fresh_meta())  # ~240 KB of weights
    assert "could not save the checkpoint" in str(err.value)
    assert os.listdir(models_dir) == ["earlier"]  # no half-written folder, hidden or not
    with file_size_limit(10), pytest.raises(CheckpointError, match="could not rename"):
        rename_checkpoint(earlier, "new name")
    assert read_record(earlier).name == "test mlp-64x3"  # the old record is intact, not truncated
    assert sorted(os.listdir(earlier)) == ["meta.json", "weights.safetensors"]  # no .meta-*.tmp left


def test_what_a_worker_sends_is_checked_like_an_upload_and_saved_as_sent(models_dir):
    good = pack(build_model("mlp-64x3"), parse_record(fresh_meta(), "test"))
    pickled = io.BytesIO()
    torch.save(build_model("mlp-64x3").state_dict(), pickled)
    other = pack(build_model("fast"), parse_record(fresh_meta("fast"), "test")).weights
    for packed, expected in [
        (PackedCheckpoint(pickled.getvalue(), good.meta), "not a valid Digit Lab checkpoint file"),
        (PackedCheckpoint(other, good.meta), "tensor names do not match mlp-64x3"),
        (PackedCheckpoint(good.weights, "{oops"), "not a valid Digit Lab checkpoint file"),
        (PackedCheckpoint(good.weights, json.dumps({**fresh_meta(), "metrics": {"n": "9"}})), "metrics.n should be"),
    ]:
        with pytest.raises(CheckpointError, match=expected) as err:
            save_packed(packed)
        assert "\n" not in str(err.value) and os.listdir(models_dir) == []
    path = save_packed(good)
    assert (path / "weights.safetensors").read_bytes() == good.weights and read_record(path).name == "test mlp-64x3"


def test_the_weights_are_on_disk_before_the_folder_is_renamed_into_place(trained_checkpoint, models_dir, monkeypatch):
    """After a power cut a listed checkpoint must not hold an empty weights file: each file is fsynced before the
    folder's rename makes it visible, and the models folder after it."""
    import mnist_core.store.checkpoints as checkpoints

    steps, fsync, replace = [], os.fsync, os.replace

    def synced(fd):
        steps.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def renamed(src, dst):
        steps.append(("rename", str(dst)))
        replace(src, dst)

    monkeypatch.setattr(checkpoints.os, "fsync", synced)
    monkeypatch.setattr(checkpoints.os, "replace", renamed)
    path = checkpoints.import_checkpoint(checkpoints.export_checkpoint(trained_checkpoint))
    made = [i for i, (kind, where) in enumerate(steps) if kind == "rename" and where == str(path)]
    assert len(made) == 1, steps
    before, after = steps[: made[0]], steps[made[0] + 1 :]
    assert any(kind == "fsync" and where.endswith(checkpoints.WEIGHTS) for kind, where in before), steps
    assert ("fsync", str(models_dir)) in after, steps
