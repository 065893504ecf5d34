"""A light student: one session of the real app driven over Streamlit's own protocol, with no browser.

It speaks what the browser speaks on ws://HOST:PORT/_stcore/stream (streamlit.proto: BackMsg out, ForwardMsg in):
opening a page is a rerun with the page's name and query string, pressing a button is a rerun with that button's
trigger, and the page's timed redraws (`st.fragment(run_every=...)`, announced by `auto_rerun` messages) are
answered as the browser answers them, for as long as the session stays on the page. An answer is timed from the
message sent to the script run's finished message, so it is the server's work and the way there and back, without
any rendering. Its own cookie (`digit_lab_browser`) makes it a student of its own on a shared server.

Used by benchmarks/class_load.py: on a 2-core machine thirty Chromium pages would measure the browsers rather than
the server; this costs a few milliseconds of CPU per answer.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect  # websockets >= 13 (streamlit brings it)

ANSWER_TIMEOUT_S = 300.0  # a ceiling for one script run on a loaded 2-core machine; never asserted
DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


@dataclass
class Answer:
    """One request and the script run(s) it caused, to the first that finished (a page's own st.rerun() goes on)."""

    page: str
    kind: str  # open, press, redraw (a fragment's timed rerun)
    seconds: float
    texts: list[str] = field(default_factory=list)  # every text the run sent: headings, markdown, alerts, metrics
    exceptions: list[str] = field(default_factory=list)  # st.exception elements: a traceback shown to the student
    error: str | None = None  # no answer within ANSWER_TIMEOUT_S, or the connection closed

    def has(self, text: str) -> bool:
        return any(text in t for t in self.texts)


def _texts(element) -> tuple[str, list[str]]:
    """(element type, its readable texts)."""
    kind = element.WhichOneof("type")
    e = getattr(element, kind, None)
    out = [getattr(e, name) for name in ("label", "body", "text") if isinstance(getattr(e, name, None), str)]
    return kind, [t for t in out if t]


class LightClient:
    """One student's session. `async with LightClient(url) as c: await c.open("train", "epochs=1")`."""

    def __init__(self, url: str, secret: str | None = None):
        self.url = url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.secret = secret or os.urandom(16).hex()  # the browser's own cookie: who this student is
        self.page, self.query, self.page_hash = "", "", ""
        self.buttons: dict[str, str] = {}  # widget key -> widget id, from the latest run
        self.timers: dict[str, float] = {}  # fragment id -> seconds between its redraws
        self.due: dict[str, float] = {}  # fragment id -> when it is due (time.monotonic)
        self.answers: list[Answer] = []
        self._ws = None
        self._gave_up = False

    async def __aenter__(self) -> LightClient:
        self._ws = await connect(
            self.url,
            subprotocols=["streamlit"],
            additional_headers={"Cookie": f"digit_lab_browser={self.secret}"},
            max_size=None,
            open_timeout=ANSWER_TIMEOUT_S,
            ping_interval=None,  # the server may be too busy to answer pings in time; a browser sends none either
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()

    @property
    def closed(self) -> bool:
        """The connection is gone (the server closed it, or an answer never came): this session is over."""
        return self._ws is None or self._ws.close_code is not None or self._gave_up

    async def open(self, page: str, query: str = "") -> Answer:
        """Open a page (its url path: "train", "draw", "" for Home) with a query string, as a click on its link."""
        self.page, self.query, self.page_hash = page, query, ""
        return await self._request("open")

    async def press(self, key: str) -> Answer:
        """Press the button with widget key `key` on the page last drawn."""
        return await self._request("press", trigger=self.buttons[key])

    async def stay(self, seconds: float) -> list[Answer]:
        """Keep the page open for `seconds`, answering its timed redraws as a browser tab does."""
        end, answers = time.monotonic() + seconds, []
        while not self.closed:
            now = time.monotonic()
            fragment = min(self.due, key=self.due.get, default=None)
            at = self.due[fragment] if fragment is not None else end
            if at >= end:
                await asyncio.sleep(max(0.0, end - now))
                return answers
            await asyncio.sleep(max(0.0, at - now))
            self.due[fragment] = time.monotonic() + self.timers[fragment]
            answers.append(await self._request("redraw", fragment=fragment))
        return answers

    async def _request(self, kind: str, trigger: str | None = None, fragment: str | None = None) -> Answer:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name, state.page_script_hash = self.query, self.page, self.page_hash
        if trigger is not None:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = trigger, True
        if fragment is not None:
            state.fragment_id, state.is_auto_rerun = fragment, True
        answer = Answer(self.page, kind, 0.0)
        started = time.perf_counter()
        try:
            await self._ws.send(msg.SerializeToString())
            await asyncio.wait_for(self._read_until_finished(answer), ANSWER_TIMEOUT_S)
        except (TimeoutError, websockets.ConnectionClosed) as e:
            answer.error = f"{type(e).__name__}: {e}"
            self._gave_up = True  # what arrives later belongs to a request nobody waits for any more
        answer.seconds = time.perf_counter() - started
        self.answers.append(answer)
        return answer

    async def _read_until_finished(self, answer: Answer) -> None:
        while True:
            m = ForwardMsg()
            m.ParseFromString(await self._ws.recv())
            kind = m.WhichOneof("type")
            if kind == "navigation":
                self.page_hash = m.navigation.page_script_hash  # the page st.navigation runs (new_session: the app's)
            elif kind == "new_session":
                if not m.metadata.run.fragment_ids:  # a whole-page run: its fragments announce themselves again
                    self.buttons, self.timers, self.due = {}, {}, {}
            elif kind == "page_info_changed":
                self.query = m.page_info_changed.query_string  # the address bar, as the page set it
            elif kind == "auto_rerun":
                self.timers[m.auto_rerun.fragment_id] = m.auto_rerun.interval
                self.due.setdefault(m.auto_rerun.fragment_id, time.monotonic() + m.auto_rerun.interval)
            elif kind == "stop_auto_rerun":
                for f in m.stop_auto_rerun.fragment_ids:
                    self.timers.pop(f, None)
                    self.due.pop(f, None)
            elif kind == "delta" and m.delta.WhichOneof("type") == "new_element":
                element_type, texts = _texts(m.delta.new_element)
                answer.texts += texts
                if element_type == "exception":
                    answer.exceptions.append(m.delta.new_element.exception.message)
                elif element_type == "button":
                    widget_id = m.delta.new_element.button.id  # "$$ID-<hash>-<key>" for a button with a key
                    self.buttons[widget_id.split("-", 2)[-1]] = widget_id
            elif kind == "script_finished" and m.script_finished in DONE:
                return
