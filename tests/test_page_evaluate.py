"""The Evaluate page (AppTest, real checkpoint, real data) and the pure helpers behind it."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from conftest import SHARED_RAW, open_page
from mnist_core.data.sources import DIGITS
from mnist_core.store.checkpoints import export_checkpoint, list_checkpoints
from mnist_core.store.records import DatasetRecord
from ui import evaluation as ev


def _accuracy(at) -> float:
    metric = next(m for m in at.metric if m.label == "Accuracy")
    return float(metric.value.rstrip("%"))


def _figure(at) -> dict:
    charts = at.get("plotly_chart")
    assert charts, "no plotly chart on the page"
    return json.loads(charts[0].proto.spec)


def _array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.array(value)


def _gallery_captions(at) -> list[str]:
    return [c for img in at.image for c in img.captions]


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _folders(models_dir) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir() if not p.name.startswith("."))


# --- the page --------------------------------------------------------------------------------------------


def test_without_a_model_the_page_points_to_train(app, models_dir):
    at = open_page(app, "evaluate")
    assert any("no saved model" in i.value.lower() for i in at.info)
    assert any(link.proto.page == "train" for link in at.page_link)
    assert not at.error and not at.metric
    assert at.file_uploader, "uploading a model must be possible even with none saved"


def test_scores_the_newest_model_with_confusion_matrix_and_tables(app, models_with_checkpoint):
    at = open_page(app, "evaluate")
    assert at.selectbox(key="eval_model").value == list_checkpoints()[0].run_id
    assert at.radio(key="eval_split").value == "test"
    assert _accuracy(at) > 90.0  # 3 epochs of the fast CNN on the sample: ~97% on its test part
    assert any(m.label == "Loss" for m in at.metric)

    fig = _figure(at)
    assert fig["layout"]["xaxis"]["title"]["text"] == "Predicted"
    assert fig["layout"]["yaxis"]["title"]["text"] == "True"
    assert "Confusion matrix" in fig["layout"]["title"]["text"]
    heat = next(t for t in fig["data"] if t["type"] == "heatmap")
    counts = _array(heat["z"])
    assert counts.shape == (10, 10) and counts.sum() == 1000  # the sample's test part
    assert heat["texttemplate"] == "%{text}" and heat["text"][0][0] == str(int(counts[0, 0]))
    assert abs(np.trace(counts) / counts.sum() * 100 - _accuracy(at)) < 0.01

    per_class = at.dataframe[0].value
    assert list(per_class.columns[:4]) == ["Class", "Precision %", "Recall %", "F1 %"] and len(per_class) == 10
    pairs = at.dataframe[1].value
    assert list(pairs.columns[:3]) == ["True", "Read as", "Times"] and len(pairs) > 0
    comparison = at.dataframe[2].value
    assert {"Name", "Architecture", "Epochs", "Accuracy %", "Training time (s)", "Dataset"} <= set(comparison.columns)


def test_normalised_view_shows_row_percentages(app, models_with_checkpoint):
    at = open_page(app, "evaluate")
    at.toggle(key="eval_norm").set_value(True).run()
    assert not at.exception
    heat = next(t for t in _figure(at)["data"] if t["type"] == "heatmap")
    np.testing.assert_allclose(_array(heat["z"]).sum(axis=1), 100.0)


def test_choosing_a_pair_shows_exactly_those_images(app, models_with_checkpoint):
    at = open_page(app, "evaluate")
    everything = _gallery_captions(at)
    assert everything and all(re.fullmatch(r"true \d → \d · (>99|\d{1,2})% ✗", c) for c in everything), everything
    top = at.dataframe[1].value.iloc[0]  # the most confused pair
    true, pred, times = DIGITS.index(top["True"]), DIGITS.index(top["Read as"]), int(top["Times"])
    at.selectbox(key="eval_true").set_value(true)
    at.selectbox(key="eval_pred").set_value(pred)
    at.run()
    assert not at.exception
    captions = _gallery_captions(at)
    assert len(captions) == times
    assert all(c.startswith(f"true {true} → {pred} · ") for c in captions), captions
    assert any(f"{times} of {times} mistakes" in c.value for c in at.caption)

    at.selectbox(key="eval_pred").set_value(true).run()  # the diagonal: images it read right, marked so
    assert all(c.startswith(f"true {true} → {true} · ") and c.endswith(" ✓") for c in _gallery_captions(at))


def test_train_split_is_flagged_as_optimistic(app, models_with_checkpoint):
    at = open_page(app, "evaluate")
    at.radio(key="eval_split").set_value("train").run()
    assert not at.exception
    assert any("optimistic" in i.value for i in at.info)
    assert next(m for m in at.metric if m.label == "Images scored").value == "4,000"


def test_other_dataset_is_named_and_a_missing_split_is_not_offered(app, models_with_checkpoint):
    if not (SHARED_RAW / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST test set not found at {SHARED_RAW}")
    app.session_state["dataset"] = "folder"
    app.session_state["dataset_folder"] = str(SHARED_RAW)  # the real 10,000-image test set, no train files
    at = open_page(app, "evaluate")
    assert any("trained on **MNIST sample**" in w.value for w in at.warning)
    assert _accuracy(at) > 85.0  # trained on 4,000 sample digits, scored on the disjoint real test set
    assert at.radio(key="eval_split").options == ["test", "all"]  # no train files: "train" is not offered


def test_rename_changes_the_listed_name(app, models_with_checkpoint):
    at = open_page(app, "evaluate")
    run_id = at.selectbox(key="eval_model").value
    at.text_input(key=f"eval_name_{run_id}").set_value("My first CNN").run()
    at.button(key="eval_rename").click().run()
    assert not at.exception and not at.error
    assert at.dataframe[2].value["Name"].tolist() == ["My first CNN"]
    assert list_checkpoints()[0].name == "My first CNN"
    assert at.selectbox(key="eval_model").value == run_id

    at.text_input(key=f"eval_name_{run_id}").set_value("bad/name").run()
    at.button(key="eval_rename").click().run()
    assert not at.exception
    assert any("a name needs" in e for e in _errors(at))
    assert list_checkpoints()[0].name == "My first CNN"


def test_delete_asks_first_then_removes_the_model_from_disk(app, models_with_checkpoint):
    at = open_page(app, "evaluate")
    run_id = at.selectbox(key="eval_model").value
    at.button(key="eval_delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert (models_with_checkpoint / run_id).is_dir(), "nothing is deleted before the confirmation"
    at.button(key="eval_delete_no").click().run()
    assert (models_with_checkpoint / run_id).is_dir() and not at.warning

    at.button(key="eval_delete").click().run()
    at.button(key="eval_delete_yes").click().run()
    assert not at.exception
    assert _folders(models_with_checkpoint) == []
    assert any("Deleted" in s.value for s in at.success)
    assert any("no saved model" in i.value.lower() for i in at.info)


def _pickle_bytes(tmp_path) -> bytes:
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(3, 3)}, path)
    return path.read_bytes()


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("model.pt", _pickle_bytes, "PyTorch pickle"),
        ("random.safetensors", lambda tmp: np.random.default_rng(0).bytes(4096), "not a valid Digit Lab checkpoint"),
        ("plain.safetensors", lambda tmp: st_save({"w": torch.zeros(2)}), "no Digit Lab metadata"),
    ],
)
def test_upload_refuses_anything_but_a_digit_lab_export(app, models_with_checkpoint, tmp_path, name, make, reason):
    before = _folders(models_with_checkpoint)
    at = open_page(app, "evaluate")
    at.file_uploader[0].upload(name, make(tmp_path)).run()
    assert not at.exception
    errors = _errors(at)
    assert any(name in e and "refused" in e and reason in e for e in errors), errors
    assert _folders(models_with_checkpoint) == before
    at.run()  # a rerun neither imports nor crashes
    assert _folders(models_with_checkpoint) == before


def test_exported_checkpoint_imports_and_becomes_the_selected_model(app, models_with_checkpoint):
    original = list_checkpoints()[0]
    data = export_checkpoint(original.path)
    at = open_page(app, "evaluate")
    at.file_uploader[0].upload(f"{original.run_id}.safetensors", data).run()
    assert not at.exception and not at.error
    assert any("Imported" in s.value for s in at.success)
    saved = list_checkpoints()
    assert len(saved) == 2 and _folders(models_with_checkpoint) == sorted(c.run_id for c in saved)
    new = next(c for c in saved if c.run_id != original.run_id)
    assert new.name.endswith("(uploaded)")
    assert at.selectbox(key="eval_model").value == new.run_id
    assert _accuracy(at) == pytest.approx(original.accuracy * 100, abs=0.01)  # the same weights
    at.run()
    assert len(list_checkpoints()) == 2, "a rerun must not import the same file again"


# --- the helpers ------------------------------------------------------------------------------------------


def test_row_percent_and_click_selection():
    confusion = np.array([[8, 2], [0, 0]])
    np.testing.assert_allclose(ev.row_percent(confusion), [[80, 20], [0, 0]])
    cells = ev.confusion_cells(confusion, ["a", "b"], normalised=True)
    assert cells["x"] == ["a", "b", "a", "b"] and cells["y"] == ["a", "a", "b", "b"]
    assert "80.0%" in cells["hover"][0] and cells["text"][0] == ["80.0", "20.0"]
    click = {"selection": {"points": [{"x": "b", "y": "a", "curve_number": 1, "point_index": 1}]}}
    assert ev.pair_from_selection(click, ["a", "b"]) == (0, 1)  # true a, predicted b
    assert ev.pair_from_selection({"selection": {"points": []}}, ["a", "b"]) is None
    assert ev.pair_from_selection(None, ["a", "b"]) is None


def test_dataset_note_cases():
    trained = DatasetRecord(source="mnist-sample", title="MNIST sample", split="train")
    assert ev.dataset_note(trained, "mnist-sample", "MNIST sample", "test") is None
    assert ev.dataset_note(trained, "mnist-sample", "MNIST sample", "train")[0] == "info"
    assert ev.dataset_note(trained, "mnist-sample", "MNIST sample", "all")[0] == "info"
    kind, text = ev.dataset_note(trained, "fashion-mnist", "Fashion-MNIST", "test")
    assert kind == "warning" and "MNIST sample" in text and "Fashion-MNIST" in text
    assert ev.dataset_note(DatasetRecord(), "mnist", "MNIST", "test") is None  # a record that says nothing
