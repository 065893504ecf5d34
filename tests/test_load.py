"""Four browser sessions at once on one real server (tests/load_scenario.py): one trains, two draw different digits
while the run goes on, one opens its own Train page. Every session gets its answer, sees only its own state, and no
exception. How fast the answers come with eight sessions is printed by benchmarks/load.py, never asserted here
(eight browsers on the 2-core build machine took 8 minutes of the suite's time; four show the same isolation, and a
session that opens Explore there added only its heaviest page, not another kind of isolation)."""

from __future__ import annotations

import re
import shutil

import pytest

from browser_helpers import LONG_RUN, run_id
from conftest import Server
from load_scenario import Scenario, failures
from mnist_core.store.checkpoints import list_checkpoints

pytestmark = pytest.mark.browser
ROUNDS = 1  # digits drawn per drawing session; benchmarks/load.py draws more


def test_sessions_at_once_each_get_their_own_answers(tmp_path, trained_checkpoint):
    models = tmp_path / "models"
    shutil.copytree(trained_checkpoint, models / trained_checkpoint.name)  # the model every Draw session uses
    server = Server(models)
    try:
        outcomes = Scenario(server, draw=2, explore=0, peek=1, rounds=ROUNDS, train_link=LONG_RUN).run()
    finally:
        server.stop()
    failed = failures(outcomes)
    assert not failed, "\n".join(failed[:2]) + f"\n{server.output()}"
    by_role = {role: [o for o in outcomes if o.role == role] for role in ("train", "draw", "peek")}
    assert [len(v) for v in by_role.values()] == [1, 2, 1]

    # Each drawing session read its own digit every time, and every reading came while the run was going.
    for o in by_role["draw"]:
        assert [r["value"] for r in o.readings] == [str(o.digit)] * ROUNDS, o.readings
        assert all(r["training"] for r in o.readings), o.readings
    assert len({o.digit for o in by_role["draw"]}) == 2

    # The run belongs to the session that started it: its link names the run and its page showed the result,
    # which is the one model the run saved (the peeking session's Train page showed no run at all).
    [trainer] = by_role["train"]
    assert run_id(trainer.run_url)
    [saved] = [c for c in list_checkpoints(models) if c.run_id != trained_checkpoint.name]
    assert saved.meta["metrics"]["stopped"] is True
    assert trainer.accuracy == f"{saved.accuracy:.2%}"
    assert re.fullmatch(r"\d+\.\d\d%", trainer.accuracy)
