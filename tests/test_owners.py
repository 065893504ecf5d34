"""Students who cannot break each other's work: on a shared server a second browser can neither rename nor delete
the first one's model, the teacher's admin token can, and everyone can still use every model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import as_drawing, open_page
from harness.browser import REPO
from mnist_core.store import owners
from mnist_core.store.checkpoints import CheckpointError, delete_checkpoint, list_checkpoints, rename_checkpoint
from mnist_core.store.owners import Person, may_manage
from ui import identity


def test_only_the_maker_or_the_host_may_manage_a_model(monkeypatch):
    alice, bob = Person(owners.browser_id("a-secret")), Person(owners.browser_id("b-secret"))
    assert alice.id != bob.id and alice.id == owners.browser_id("a-secret")
    assert may_manage(alice, alice.id) and not may_manage(bob, alice.id)
    assert not may_manage(bob, None) and not may_manage(Person(""), "")  # ownerless models are the host's
    assert may_manage(Person("someone", admin=True), alice.id)

    monkeypatch.delenv(owners.ADMIN_TOKEN_ENV, raising=False)
    assert not owners.is_admin_token("") and not owners.is_admin_token("anything")  # no token set: nobody is host
    monkeypatch.setenv(owners.ADMIN_TOKEN_ENV, "s3cret-for-class")
    assert owners.is_admin_token("s3cret-for-class") and owners.is_admin_token(" s3cret-for-class ")
    assert not owners.is_admin_token("s3cret") and not owners.is_admin_token("")


def test_a_display_name_is_one_short_line():
    assert owners.clean_name("  Li   Hua \n") == "Li Hua"
    assert len(owners.clean_name("x" * 200)) == owners.NAME_LENGTH


@pytest.mark.parametrize("token", [bytes(range(16)), b"\xff" * 16])
def test_the_browser_is_known_by_its_cookie_token_however_it_is_masked(token):
    def cookie(mask: bytes) -> str:
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
        return f"2|{mask.hex()}|{masked.hex()}|1764547200"

    assert identity._browser_secret(cookie(b"\x01\x02\x03\x04")) == identity._browser_secret(
        cookie(b"\xaa\xbb\xcc\xdd")
    )
    assert identity._browser_secret(cookie(b"\x00\x00\x00\x00")) == token.hex()
    assert identity._browser_secret(None) is None and identity._browser_secret("garbage") is None


def _owned_by(models, secret: str, name: str):
    """The one saved model in `models`, made over to the browser holding `secret`."""
    import json

    folder = next(p for p in models.iterdir() if p.is_dir())
    meta = json.loads((folder / "meta.json").read_text())
    meta["owner"] = {"id": owners.browser_id(secret), "name": name}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _session(app, secret: str):
    app.session_state["browser_secret"] = secret  # AppTest has no cookies: the session's own browser id
    return open_page(app, "evaluate")


def test_a_second_student_can_use_but_not_rename_or_delete_the_first_ones_model(app, models_with_checkpoint, shared):
    folder = _owned_by(models_with_checkpoint, "alice-secret", "Alice")
    at = _session(app, "bob-secret")
    assert [m for m in at.metric if m.label == "Accuracy"], "Bob can still evaluate Alice's model"
    assert at.dataframe[2].value["Made by"].tolist() == ["Alice"]
    assert any("Made by Alice: only they, or the teacher, can rename or delete it" in c.value for c in at.caption)
    run_id = folder.name
    assert at.text_input(key=f"eval_name_{run_id}").disabled
    assert at.button(key="eval_rename").disabled and at.button(key="eval_delete").disabled
    with pytest.raises(CheckpointError, match="only the person who made this model"):  # nor behind the page's back
        rename_checkpoint(folder, "Bobs now", by=Person(owners.browser_id("bob-secret")))
    with pytest.raises(CheckpointError, match="only the person who made this model"):
        delete_checkpoint(folder, by=Person(owners.browser_id("bob-secret")))
    assert folder.is_dir() and list_checkpoints()[0].name != "Bobs now"


def test_the_maker_renames_their_own_model(app, models_with_checkpoint, shared):
    folder = _owned_by(models_with_checkpoint, "alice-secret", "Alice")
    at = _session(app, "alice-secret")
    assert at.dataframe[2].value["Made by"].tolist() == ["you"]
    at.text_input(key=f"eval_name_{folder.name}").set_value("Alice CNN").run()
    at.button(key="eval_rename").click().run()
    assert not at.exception and not at.error
    assert list_checkpoints()[0].name == "Alice CNN"


def test_the_teachers_admin_token_manages_every_model(app, models_with_checkpoint, shared, monkeypatch):
    monkeypatch.setenv(owners.ADMIN_TOKEN_ENV, "class-7b-token")
    folder = _owned_by(models_with_checkpoint, "alice-secret", "Alice")
    at = _session(app, "teacher-secret")
    at.sidebar.text_input(key="admin_token").set_value("wrong").run()
    assert at.button(key="eval_delete").disabled, "a wrong token changes nothing"
    at.sidebar.text_input(key="admin_token").set_value("class-7b-token").run()
    assert not at.button(key="eval_delete").disabled
    at.button(key="eval_delete").click().run()
    at.button(key="eval_delete_yes").click().run()
    assert not at.exception and not folder.exists()


def test_on_a_learners_own_computer_every_model_is_theirs(app, models_with_checkpoint):
    _owned_by(models_with_checkpoint, "alice-secret", "Alice")
    at = _session(app, "another-tab")
    assert not at.button(key="eval_delete").disabled and not at.button(key="eval_rename").disabled
    assert not [t for t in at.sidebar.text_input if t.key in ("display_name", "admin_token")]  # nothing to type


def test_a_name_typed_once_is_kept_when_the_tab_is_refreshed(app, models_dir, shared):
    app.session_state["browser_secret"] = "li-secret"
    at = open_page(app, "draw")
    at.sidebar.text_input(key="display_name").set_value("Li Hua").run()
    assert not at.exception

    again = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)  # the same browser, a new session
    again.session_state["browser_secret"] = "li-secret"
    again.session_state["dataset"] = "mnist-sample"
    again.run()
    assert again.sidebar.text_input(key="display_name").value == "Li Hua"


def test_a_collection_is_changed_only_by_the_student_who_started_it(tmp_path, sample):
    from mnist_core.data.sources import load_source
    from mnist_core.store.collections import Collection, CollectionError

    alice, bob = Person(owners.browser_id("a"), "Alice"), Person(owners.browser_id("b"), "Bob")
    digit = as_drawing(sample.test.images[0].numpy())
    mine = Collection("class-7b", tmp_path)
    kept = mine.keep(digit, 1, by=alice)  # the first to keep a drawing starts the collection
    assert mine.owner() == alice
    for change in (
        lambda: mine.keep(digit, 2, by=bob),
        lambda: mine.delete(kept, by=bob),
        lambda: mine.add_zip(mine.to_zip(), by=bob),
        lambda: mine.remove(by=bob),
    ):
        with pytest.raises(CollectionError, match="class-7b is Alice's collection"):
            change()
    assert mine.counts()[1] == 1 and kept.exists()
    assert len(load_source(str(mine.path)).split("all")) == 1  # everyone can still train and score on it
    mine.keep(digit, 2, by=Person("host", admin=True))  # the teacher may
    mine.delete(kept, by=alice)
    assert mine.counts()[:3] == [0, 0, 1]


def test_on_a_shared_server_my_digits_shows_someone_elses_collection_locked(app, models_dir, shared):
    from mnist_core.store.collections import Collection

    theirs = Collection("my-digits")
    theirs.keep(np.full((28, 28), 255, np.uint8), 3, by=Person(owners.browser_id("alice-secret"), "Alice"))
    app.session_state["browser_secret"] = "bob-secret"
    app.session_state["my_digits_name"] = "my-digits"
    at = open_page(app, "my_digits")
    assert any("is Alice's collection" in c.value for c in at.caption)
    deletes = [b for b in at.button if b.key and b.key.startswith("my_digits_delete_")]
    assert deletes and all(b.disabled for b in deletes)


def test_on_a_shared_server_each_browser_starts_a_collection_of_its_own(app, models_dir, shared):
    app.session_state["browser_secret"] = "bob-secret"
    at = open_page(app, "my_digits")
    assert at.text_input(key="my_digits_name_input").value == "my-digits-" + owners.browser_id("bob-secret")[:6]


def test_not_me_start_fresh_forgets_this_browser_on_a_shared_computer(app, models_with_checkpoint, shared):
    _owned_by(models_with_checkpoint, "alice-secret", "Alice")
    at = _session(app, "alice-secret")
    at.sidebar.text_input(key="display_name").set_value("Alice").run()
    assert not at.button(key="eval_delete").disabled  # Alice's own model
    assert identity.typed_names()[owners.browser_id("alice-secret")] == "Alice"

    at.button(key="identity_start_fresh").click().run()
    assert not at.exception
    secret = at.session_state["browser_secret"]
    assert re.fullmatch(r"[0-9a-f]{32}", secret)  # a new secret, which the page writes to the browser's cookie
    assert at.button(key="eval_delete").disabled  # the next student cannot delete Alice's model
    assert at.sidebar.text_input(key="display_name").value == ""
    assert owners.browser_id("alice-secret") not in identity.typed_names()
    assert at.session_state["dataset"] == "mnist-sample"  # the class's dataset stays chosen
    cookie = [h.proto.body for h in at.get("html") if identity.COOKIE in h.proto.body]
    assert cookie and f"{identity.COOKIE}={secret}; Max-Age=34560000; Path=/; SameSite=Lax" in cookie[0]


def test_on_a_learners_own_computer_there_is_no_start_fresh(app):
    at = open_page(app, "draw")
    assert not [b for b in at.sidebar.button if b.key == "identity_start_fresh"]
