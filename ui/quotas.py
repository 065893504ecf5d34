"""What one student may still keep on a shared server (mnist_core.store.quotas), and the page's words when a
Start, an import or a kept drawing would pass it. The host (admin token) and a learner's own computer have none."""

from __future__ import annotations

from mnist_core.i18n import _
from mnist_core.store.owners import Person
from mnist_core.store.quotas import Quotas, drawings_of, models_of, shared_quotas
from ui.runs import job_queue
from ui.server import shared_server


def quotas(me: Person) -> Quotas:
    """The limits for `me`: none on one person's computer or for the host; raises ValueError on a bad setting."""
    return shared_quotas() if shared_server() and not me.admin else Quotas()


def model_refusal(me: Person) -> str | None:
    """Why `me` may not start (or import) another model, or None when they may. A run queued or training counts:
    it saves a model when it ends."""
    try:
        limit = quotas(me).models
    except ValueError as e:
        return _("This server's quota setting is wrong: {error}").format(error=e)
    if limit is None:
        return None
    have = models_of(me.id) + sum(1 for j in job_queue().jobs() if j.active and j.owner == me.id)
    if have < limit:
        return None
    return _(
        "You have {n} models on this server (runs still training count too) and each student may keep {limit}. "
        "Delete one of yours on **Evaluate** (Manage: delete) to train another."
    ).format(n=have, limit=limit)


def drawing_room(me: Person) -> int | None:
    """How many more drawings `me` may keep (None: no limit); raises ValueError on a bad setting."""
    limit = quotas(me).drawings
    return None if limit is None else max(0, limit - drawings_of(me.id))


def drawing_refusal(me: Person) -> str | None:
    """Why `me` may not keep another drawing, or None when they may."""
    try:
        room = drawing_room(me)
    except ValueError as e:
        return _("This server's quota setting is wrong: {error}").format(error=e)
    if room is None or room > 0:
        return None
    return _(
        "you keep {limit:,} drawings on this server, as many as each student may. Delete some of yours on "
        "**My digits** to keep more"
    ).format(limit=quotas(me).drawings)
