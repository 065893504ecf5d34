"""Who made a model, and who may rename or delete it: on a server a class shares, a student manages only the models
their own browser made, and the host (who knows the server's admin token) manages all. Everyone may use and
compare every model.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

ADMIN_TOKEN_ENV = "DIGIT_LAB_ADMIN_TOKEN"
NAME_LENGTH = 40


@dataclass(frozen=True)
class Person:
    """Whoever is using the app: `id` stands for their browser (empty when unknown, e.g. the command line)."""

    id: str = ""
    name: str = ""  # the display name they typed, shown with their models
    admin: bool = False  # the host: may manage every model


def browser_id(secret: str) -> str:
    """A stable, non-secret id for a browser from a secret only that browser holds (so the id kept in a model's
    meta.json cannot be used to act as that browser)."""
    return hashlib.sha256(("digit-lab:" + secret).encode()).hexdigest()[:16]


def clean_name(name: str) -> str:
    """A display name as typed, on one line and at most NAME_LENGTH characters."""
    return " ".join((name or "").split())[:NAME_LENGTH]


def admin_token_set() -> bool:
    return bool(os.environ.get(ADMIN_TOKEN_ENV))


def is_admin_token(typed: str) -> bool:
    """Whether `typed` is the server's admin token ($DIGIT_LAB_ADMIN_TOKEN); never true when none is set."""
    token = os.environ.get(ADMIN_TOKEN_ENV, "")
    return bool(token) and hmac.compare_digest(typed.strip().encode(), token.encode())


def may_manage(person: Person, owner_id: str | None) -> bool:
    """Whether `person` may rename or delete a model made by `owner_id`. A model without one (saved by the command
    line, or before models had owners) is the host's."""
    return person.admin or (bool(owner_id) and owner_id == person.id)
