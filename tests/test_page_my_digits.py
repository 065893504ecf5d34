"""My digits in AppTest: the gallery of kept drawings, naming a collection, deleting, using it as the dataset, and
fine-tuning a saved model on it from the Train page."""

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import keep_some, open_page
from mnist_core.classroom.jobs import Status
from mnist_core.data.sources import load_source
from mnist_core.learning.evaluation import evaluate
from mnist_core.store.checkpoints import load_checkpoint
from mnist_core.store.collections import Collection
from ui import collections, runs


@pytest.fixture
def kept(models_dir, sample) -> Collection:
    """The default collection, in the test's own My digits folder, with 3 real digits of each kind."""
    collection = Collection("my-digits", Path(os.environ["DIGIT_LAB_MY_DIGITS"]))
    keep_some(collection, sample, per_digit=3)
    return collection


def test_an_empty_collection_says_how_to_fill_it(app):
    open_page(app, "my_digits")
    assert "no drawings yet" in " ".join(i.value for i in app.info)
    assert app.text_input(key="my_digits_name_input").value == "my-digits"


def test_gallery_counts_and_delete(app, kept):
    open_page(app, "my_digits")
    assert app.get("plotly_chart"), "the counts per digit"
    delete = [b for b in app.button if b.key and b.key.startswith("my_digits_delete_")]
    assert len(delete) == 30 and all(b.help == "Delete this drawing" for b in delete)
    assert len(app.get("image")) == 30  # each drawing as the network gets it
    delete[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert sum(kept.counts()) == 29
    assert len([b for b in app.button if b.key and b.key.startswith("my_digits_delete_")]) == 29


def test_each_person_names_their_own_collection(app, kept):
    open_page(app, "my_digits")
    app.text_input(key="my_digits_name_input").input("Ana").run()
    assert "Ana" in " ".join(i.value for i in app.info) and "no drawings yet" in " ".join(i.value for i in app.info)
    assert (
        collections.my_collection().name == "my-digits"
    )  # other sessions keep theirs (this one's name lives in its state)
    assert app.session_state["my_digits_name"] == "Ana"
    app.text_input(key="my_digits_name_input").input("../etc").run()
    assert "cannot be used" in " ".join(e.value for e in app.error)
    assert app.session_state["my_digits_name"] == "Ana"


def test_a_collection_is_a_dataset_for_every_page(app, kept, models_with_checkpoint):
    open_page(app, "my_digits")
    app.button(key="my_digits_evaluate").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.session_state["dataset"] == "my:my-digits"
    assert app.selectbox(key="dataset").value == "my:my-digits"
    assert "Evaluate" in app.title[0].value, "the button opens Evaluate"
    # Scored on the 30 drawings themselves, as the engine scores that folder.
    model, ckpt = load_checkpoint(next(models_with_checkpoint.iterdir()))
    report = evaluate(model, load_source(str(kept.path)).split("all"), ckpt.config)
    assert report.n == 30
    shown = {m.label: m.value for m in app.metric}
    assert shown["Accuracy"] == f"{report.accuracy:.2%}", shown


def test_finetuning_from_the_train_page(app, kept, models_with_checkpoint, one_cpu_thread):
    open_page(app, "train")
    assert app.selectbox(key="finetune_collection").value == "my-digits"
    app.number_input(key="finetune_epochs").set_value(1)
    app.button(key="finetune_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job = runs.job_queue().get(app.session_state["train_job"])
    assert job is not None and job.parent is not None
    assert runs.job_queue().wait(job, timeout=300) and job.status == Status.DONE, job.error
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    shown = {m.label: m.value for m in app.metric}
    assert shown["Your drawings"] == f"{job.finetune.personal_after:.0%}"
    assert "Original test images" in shown
    names = [c.name for c in runs.checkpoints()]
    assert any(n.endswith("+ my-digits") for n in names), names
    assert np.isclose(job.summary.accuracy, job.finetune.personal_after)
