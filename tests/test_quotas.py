"""A student's share of a shared server: at most so many models and kept drawings each (set by the host), said at
Start and at Keep with how many you have and how to free some; no limit for the host or on a learner's computer."""

from __future__ import annotations

import numpy as np
import pytest
from test_owners import _owned_by

from conftest import open_page
from mnist_core.store import quotas as engine_quotas
from mnist_core.store.collections import Collection
from mnist_core.store.owners import Person, browser_id
from mnist_core.store.quotas import DRAWINGS_ENV, MODELS_ENV, Quotas, shared_quotas
from ui import quotas


def test_a_student_at_the_model_quota_is_refused_at_start(app, models_with_checkpoint, shared, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, "1")
    _owned_by(models_with_checkpoint, "li-secret", "Li")
    app.session_state["browser_secret"] = "li-secret"
    at = open_page(app, "train")
    at.button(key="train_start").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "You have 1 models on this server (runs still training count too) and each student may keep 1." in errors
    assert "Delete one of yours on **Evaluate**" in errors
    assert "train_job" not in at.session_state and "run" not in at.query_params  # nothing was started
    assert engine_quotas.models_of(browser_id("li-secret")) == 1 and engine_quotas.models_of(browser_id("x")) == 0


def test_quotas_hold_only_on_a_shared_server_and_not_for_the_host(shared, monkeypatch):
    monkeypatch.delenv(MODELS_ENV, raising=False)
    monkeypatch.setenv(DRAWINGS_ENV, "0")  # 0: no limit
    assert shared_quotas() == Quotas(engine_quotas.DEFAULT_MODELS, None)
    assert quotas.quotas(Person("someone")) == shared_quotas()
    assert quotas.quotas(Person("teacher", admin=True)) == Quotas()
    monkeypatch.setenv(MODELS_ENV, "lots")
    with pytest.raises(ValueError, match="DIGIT_LAB_MAX_MODELS_PER_STUDENT is a whole number"):
        shared_quotas()
    assert quotas.model_refusal(Person("someone")).startswith("This server's quota setting is wrong")


def test_on_a_learners_own_computer_there_is_no_quota(monkeypatch):
    monkeypatch.setenv(MODELS_ENV, "1")
    assert quotas.quotas(Person("me")) == Quotas()


def test_kept_drawings_stop_at_the_quota(tmp_path, shared, monkeypatch):
    monkeypatch.setenv("DIGIT_LAB_MY_DIGITS", str(tmp_path))
    monkeypatch.setenv(DRAWINGS_ENV, "2")
    li, ana = Person(browser_id("li")), Person(browser_id("ana"))
    drawing = np.zeros((40, 40), np.uint8)
    Collection("ana", tmp_path).keep(drawing, 1, by=ana)  # another's drawings do not count against Li
    mine = Collection("li", tmp_path)
    mine.keep(drawing, 3, by=li)
    assert quotas.drawing_room(li) == 1 and quotas.drawing_refusal(li) is None
    mine.keep(drawing, 4, by=li)
    assert quotas.drawing_room(li) == 0
    assert quotas.drawing_refusal(li) == (
        "you keep 2 drawings on this server, as many as each student may. Delete some of yours on **My digits** to "
        "keep more"
    )
    assert quotas.drawing_room(ana) == 1
