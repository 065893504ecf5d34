"""Fine-tuning on real files: a saved model learns a handwriting style it misreads (hollow "bubble" digits made
from real MNIST digits), keeps what it knew, and is saved as a new model that names its parent (the CLI: test_cli.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from mnist_core.data.sources import DataError, load_source
from mnist_core.runs.finetune import finetune
from mnist_core.store.checkpoints import load_checkpoint, read_record


def test_finetuning_learns_the_style_and_keeps_the_reference(
    bubble_digits, trained_checkpoint, tmp_path, one_cpu_thread
):
    s = finetune(trained_checkpoint, load_source(str(bubble_digits)), seed=0, models_dir=tmp_path)
    assert (s.n_personal_train, s.n_personal_eval) == (90, 30)
    assert s.personal_after >= s.personal_before + 0.2, s  # measured: ~45% -> ~85%
    assert s.reference_after >= s.reference_before - 0.015, s  # the 1,000 sample test images: 15 of them at most
    assert s.reference == "MNIST sample / test"
    record = read_record(s.checkpoint)
    parent = read_record(trained_checkpoint)
    assert record.finetune.parent == parent.run_id and record.finetune.personal_source == str(bubble_digits)
    assert (record.finetune.personal_before, record.finetune.personal_after) == (s.personal_before, s.personal_after)
    assert record.dataset.source == parent.dataset.source == "mnist-sample"  # a later fine-tune replays the same
    model, ckpt = load_checkpoint(s.checkpoint)
    assert ckpt.name.endswith("+ bubble0") and not ckpt.record.metrics.stopped


def test_a_stopped_finetune_is_saved_as_stopped(bubble_digits, trained_checkpoint, tmp_path, one_cpu_thread):
    import threading

    stop = threading.Event()

    def on_event(event):
        if event.kind == "step" and event.step >= 3:
            stop.set()

    s = finetune(trained_checkpoint, load_source(str(bubble_digits)), on_event=on_event, stop=stop, models_dir=tmp_path)
    assert s.stopped and read_record(s.checkpoint).metrics.stopped
    assert "(stopped)" in read_record(s.checkpoint).name


def test_too_few_drawings_are_refused(tmp_path, trained_checkpoint, bubble_digits):
    (tmp_path / "few" / "3").mkdir(parents=True)
    Image.open(next((bubble_digits / "3").iterdir())).save(tmp_path / "few" / "3" / "a.png")
    with pytest.raises(DataError, match="keep at least 4"):
        finetune(trained_checkpoint, load_source(str(tmp_path / "few")), models_dir=tmp_path)


def test_an_upload_never_makes_fine_tuning_read_a_server_path(bubble_digits, trained_checkpoint, tmp_path):
    """A model trained on a folder names it in its record; uploaded elsewhere, that path is left out on import (the
    title stays), and on a shared server a record's folder is replayed only from inside the allowed folders."""
    import json
    import shutil

    from mnist_core.runs.finetune import gather
    from mnist_core.store.checkpoints import export_checkpoint, import_checkpoint

    made_on_a_folder = tmp_path / "made" / trained_checkpoint.name
    shutil.copytree(trained_checkpoint, made_on_a_folder)
    meta = json.loads((made_on_a_folder / "meta.json").read_text())
    meta["dataset"].update(source=str(bubble_digits), eval_source="/etc", title="bubbles")
    (made_on_a_folder / "meta.json").write_text(json.dumps(meta))
    record = read_record(made_on_a_folder)
    drawings = load_source(str(bubble_digits))

    # As uploaded: no path is kept, so nothing is replayed, and the note says why without naming one.
    uploaded = read_record(import_checkpoint(export_checkpoint(made_on_a_folder), tmp_path / "models"))
    assert uploaded.dataset.source is None and uploaded.dataset.eval_source is None
    assert uploaded.dataset.title == "bubbles" and uploaded.dataset.split == record.dataset.split
    data = gather(uploaded, drawings, folders=())
    assert data.replay is None and "does not say which data" in data.note[1]["error"]
    # The app's own datasets stay, as named.
    meta["dataset"].update(source="mnist-sample", eval_source=None)
    (made_on_a_folder / "meta.json").write_text(json.dumps(meta))
    sample_made = read_record(import_checkpoint(export_checkpoint(made_on_a_folder), tmp_path / "models"))
    assert sample_made.dataset.source == "mnist-sample"

    # A record's folder outside the allow-list is refused before it is opened; inside, it is replayed.
    data = gather(record, drawings, folders=(tmp_path / "elsewhere",))
    assert data.replay is None and "only opens folders inside" in data.note[1]["error"]
    meta["dataset"].update(source=str(bubble_digits), eval_source=None)
    (made_on_a_folder / "meta.json").write_text(json.dumps(meta))
    data = gather(read_record(made_on_a_folder), drawings, folders=(bubble_digits.parent,))
    assert data.note is None and len(data.replay) > 0
