"""Which server folders a visitor may open as a dataset: any on a learner's own computer, only the host's list on a
shared server, so that nobody on the network can look around the server's disk."""

from __future__ import annotations

import os
from pathlib import Path

from mnist_core.data.sources import SOURCES, DataError
from mnist_core.i18n import _

ENV = "DIGIT_LAB_DATA_FOLDERS"


def allowed_folders() -> tuple[Path, ...]:
    """The folders the host listed in $DIGIT_LAB_DATA_FOLDERS (separated by os.pathsep), resolved."""
    listed = os.environ.get(ENV, "")
    return tuple(Path(p).expanduser().resolve() for p in listed.split(os.pathsep) if p.strip())


def check_folder(path: str, allowed: tuple[Path, ...]) -> Path:
    """`path` resolved, if it lies inside one of `allowed` (links and `..` followed first).

    Anything else is refused with the same message whether or not it exists, so the answer says nothing about the
    server's disk."""
    resolved = Path(path).expanduser().resolve()
    if any(resolved == root or root in resolved.parents for root in allowed):
        return resolved
    places = ", ".join(str(root) for root in allowed) or _("none")
    raise DataError(
        _("this server only opens folders inside the ones its host allowed ({places})").format(places=places)
    )


def check_dataset(src: str, allowed: tuple[Path, ...] | None) -> str:
    """A dataset a saved model's record names (what fine-tuning replays), if the app may open it: one of the app's
    own datasets by name, or a folder inside `allowed` (None: any folder, on a learner's own computer). A record may
    come from an upload, so on a shared server it must not make the app read a path the host never allowed."""
    if src in SOURCES or allowed is None:
        return src
    return str(check_folder(src, allowed))
