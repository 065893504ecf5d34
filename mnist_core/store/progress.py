"""Which Learn steps a browser has done: one small JSON file per browser, so the ticks outlast refreshes, page
changes and a restart of the server."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path

from mnist_core.data.sources import REPO_ROOT

_ID = re.compile(r"[0-9a-f]{1,64}")  # owners.browser_id(): hex, never a path
_lock = threading.Lock()  # two tabs of one browser tick steps from two script threads


def default_root() -> Path:
    return Path(os.environ.get("DIGIT_LAB_PROGRESS", REPO_ROOT / "progress"))


class Progress:
    """The steps one browser has done, each as (lesson slug, step number from 1)."""

    def __init__(self, browser: str, root: str | Path | None = None):
        self.path = (
            None if not _ID.fullmatch(browser or "") else (Path(root) if root else default_root()) / f"{browser}.json"
        )
        self._memory: set[tuple[str, int]] = set()  # a browser without an id keeps its ticks for this object only

    def done(self) -> frozenset[tuple[str, int]]:
        if self.path is None:
            return frozenset(self._memory)
        try:
            data = json.loads(self.path.read_text())
            return frozenset((str(slug), int(n)) for slug, steps in data.items() for n in steps)
        except (OSError, ValueError, TypeError, AttributeError):  # none yet, or a damaged file: start again
            return frozenset()

    def mark(self, lesson: str, step: int) -> None:
        if self.path is None:
            self._memory.add((lesson, step))
            return
        with _lock:
            done = self.done() | {(lesson, step)}
            data: dict[str, list[int]] = {}
            for slug, n in sorted(done):
                data.setdefault(slug, []).append(n)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".progress-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
