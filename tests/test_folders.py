"""A shared server opens only the folders its host allowed, and says nothing about any other path of its disk; a
learner's own app (listening on this computer only) opens any folder, as before."""

from __future__ import annotations

import shutil

import pytest

from conftest import open_page
from mnist_core.data.folders import ENV, allowed_folders, check_folder
from mnist_core.data.sources import DataError
from ui import datasets


def test_inside_an_allowed_folder_is_opened_and_anything_else_refused_alike(tmp_path):
    allowed = tmp_path / "class data"
    (allowed / "digits" / "3").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    (allowed / "link").symlink_to(tmp_path / "private")
    roots = (allowed.resolve(),)
    assert check_folder(str(allowed), roots) == allowed.resolve()
    assert check_folder(str(allowed / "digits" / "3"), roots) == (allowed / "digits" / "3").resolve()
    messages = set()
    for outside in (tmp_path / "private", tmp_path / "missing", allowed / ".." / "private", allowed / "link", "/etc"):
        with pytest.raises(DataError) as err:
            check_folder(str(outside), roots)
        messages.add(str(err.value))
    assert len(messages) == 1  # one answer for a folder that exists and one that does not
    assert "only opens folders inside the ones its host allowed" in messages.pop()
    with pytest.raises(DataError, match=r"\(none\)"):
        check_folder(str(allowed), ())


def test_the_setting_lists_folders_separated_like_path(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, f"{tmp_path / 'a'}:{tmp_path / 'b'}:")
    assert allowed_folders() == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
    monkeypatch.delenv(ENV)
    assert allowed_folders() == ()


def test_a_shared_server_without_allowed_folders_does_not_offer_one(app, shared, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    at = open_page(app, "explore")
    options = at.sidebar.selectbox(key="dataset").options
    assert (
        datasets.DATASET_LABELS[datasets.FOLDER] not in options and datasets.DATASET_LABELS["mnist-sample"] in options
    )


def test_a_shared_server_opens_an_allowed_folder_and_refuses_others(app, shared, monkeypatch, tmp_path, bubble_digits):
    allowed = tmp_path / "class"
    shutil.copytree(bubble_digits, allowed / "bubbles")
    monkeypatch.setenv(ENV, str(allowed))
    app.session_state["dataset"] = "folder"
    for outside in ("/etc", "/no/such/folder", str(allowed / ".." / "models")):
        app.session_state["dataset_folder"] = outside
        at = open_page(app, "explore")
        assert [e.value for e in at.error] == [
            f"This dataset cannot be used: this server only opens folders inside the ones its host allowed ({allowed})"
        ], outside
        assert not at.metric
    assert str(allowed) in " ".join(c.value for c in at.sidebar.caption)  # the sidebar says where to look
    app.session_state["dataset_folder"] = str(allowed / "bubbles")
    at = open_page(app, "explore")
    assert not at.error and "120 images" in " ".join(m.value for m in at.metric)


def test_a_learners_own_app_offers_any_folder(app, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    at = open_page(app, "explore")  # .streamlit/config.toml: this computer only
    assert datasets.DATASET_LABELS[datasets.FOLDER] in at.sidebar.selectbox(key="dataset").options
