"""Students who cannot break each other's work: on a shared server a second browser can neither rename nor delete
the first one's model, the teacher's admin token can, and everyone can still use every model."""

from __future__ import annotations

import pytest

import ui
from mnist_core import owners
from mnist_core.owners import Person, may_manage


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

    assert ui._browser_secret(cookie(b"\x01\x02\x03\x04")) == ui._browser_secret(cookie(b"\xaa\xbb\xcc\xdd"))
    assert ui._browser_secret(cookie(b"\x00\x00\x00\x00")) == token.hex()
    assert ui._browser_secret(None) is None and ui._browser_secret("garbage") is None
