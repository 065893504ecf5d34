"""How much one student may keep on a server a class shares: models and kept drawings, each set by the host in an
environment variable. On a learner's own computer there is no limit; the app decides which it is (ui.server)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mnist_core.i18n import _
from mnist_core.store.checkpoints import list_checkpoints
from mnist_core.store.collections import Collection, collection_names

MODELS_ENV = "DIGIT_LAB_MAX_MODELS_PER_STUDENT"
DRAWINGS_ENV = "DIGIT_LAB_MAX_DRAWINGS_PER_STUDENT"
# A class of 30 at these limits keeps at most 600 models (about 0.5-5 MB each) and 60,000 drawings (about 5 KB each).
DEFAULT_MODELS = 20
DEFAULT_DRAWINGS = 2_000


@dataclass(frozen=True)
class Quotas:
    """At most this many per student; None is no limit."""

    models: int | None = None
    drawings: int | None = None


def _setting(name: str, default: int) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise ValueError(
            _("{name} is a whole number (0 for no limit), not {value}").format(name=name, value=repr(value[:40]))
        ) from None
    if limit < 0:
        raise ValueError(_("{name} is a whole number (0 for no limit), not {value}").format(name=name, value=limit))
    return limit or None


def shared_quotas() -> Quotas:
    """The limits on a shared server: $DIGIT_LAB_MAX_MODELS_PER_STUDENT and $DIGIT_LAB_MAX_DRAWINGS_PER_STUDENT, or
    the defaults; 0 turns a limit off. A value that is not a whole number raises ValueError naming the variable."""
    return Quotas(_setting(MODELS_ENV, DEFAULT_MODELS), _setting(DRAWINGS_ENV, DEFAULT_DRAWINGS))


def models_of(owner_id: str, models_dir: str | Path | None = None) -> int:
    """How many saved models `owner_id` (a browser id) made."""
    return sum(1 for c in list_checkpoints(models_dir) if c.record.owner is not None and c.record.owner.id == owner_id)


def drawings_of(owner_id: str, root: str | Path | None = None) -> int:
    """How many drawings `owner_id` keeps, in all the collections that are theirs."""
    total = 0
    for name in collection_names(root):
        collection = Collection(name, root)
        owner = collection.owner()
        if owner is not None and owner.id == owner_id:
            total += len(collection.drawings())
    return total
