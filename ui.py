"""The few helpers every page shares: cached data, the job queue, the chosen dataset, chart styling.

Pages stay thin views over mnist_core; anything here is about Streamlit, never about training.
"""

from __future__ import annotations

import functools
import json
import os
import re
from contextvars import ContextVar
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from mnist_core import i18n
from mnist_core.checkpoints import Checkpoint, list_checkpoints
from mnist_core.data import DIGITS, SOURCES, DataError, Source, is_image_folder, load_source
from mnist_core.devices import describe_device, describe_precision, resolve_device
from mnist_core.folders import allowed_folders, check_folder
from mnist_core.i18n import LANGUAGES, N_, _
from mnist_core.jobs import Job, JobQueue
from mnist_core.my_digits import DEFAULT_NAME, Collection, CollectionError, check_name, collection_names
from mnist_core.owners import NAME_LENGTH, Person, admin_token_set, browser_id, clean_name, is_admin_token

FOLDER = "folder"
MY = "my:"  # a sidebar choice "my:<name>" is the My digits collection <name>
DATASET_LABELS = {**SOURCES, FOLDER: N_("A folder of MNIST files or of digit folders…")}
# Upload limits in MB, each well above what its file needs (a phone photo is 2-12 MB, the largest model 5 MB), so
# that a shared server cannot be filled up by one visitor; the page shows each as "Limit N MB per file" and refuses
# a bigger file with Streamlit's own message. .streamlit/config.toml caps every upload at the largest of them.
PHOTO_MB = 20
MODEL_MB = 10
ZIP_MB = 50


LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")
LANGUAGE_KEY = "lang"  # the sidebar's language box, and the address's ?lang=


def use_language() -> str:
    """Set this run's interface language and return it: ?lang= in the address when it names a new one (a
    teacher's shared link), else the sidebar's choice so far, else the browser's preferred language."""
    asked = st.query_params.get(LANGUAGE_KEY)
    if asked in LANGUAGES and st.session_state.get("lang_from_address") != asked:
        st.session_state["lang_from_address"] = asked  # once: the sidebar's box may change it afterwards
        st.session_state[LANGUAGE_KEY] = asked
    if st.session_state.get(LANGUAGE_KEY) not in LANGUAGES:
        # navigator.language first: the same as Accept-Language's first choice in a browser, and the one that
        # browser automation (and some privacy settings) change
        preferred = st.context.locale or st.context.headers.get("Accept-Language")
        st.session_state[LANGUAGE_KEY] = i18n.pick(preferred)
    i18n.use(st.session_state[LANGUAGE_KEY])
    return st.session_state[LANGUAGE_KEY]


def language_switch() -> None:
    """The sidebar's language box; the choice is kept across pages and written into the address, so a link
    copied from it opens in the same language."""
    st.selectbox(
        "Language · 语言",
        list(LANGUAGES),
        format_func=LANGUAGES.get,
        key=LANGUAGE_KEY,
        help="The interface's language; links copied from the address bar open in it. · 界面语言；从地址栏复制的链接会用同一种语言打开。",
    )
    language = st.session_state[LANGUAGE_KEY]
    if language != i18n.DEFAULT or LANGUAGE_KEY in st.query_params:
        st.query_params[LANGUAGE_KEY] = language
        st.session_state["lang_from_address"] = language


# Texts Streamlit's own widgets write in English in the browser (no setting translates them): the file uploader's
# button, its size line and its refusals. Each is a JavaScript regular expression, its replacement (translated like
# any message) and the field of that message that stands for the expression's group.
BUILTIN_TEXTS = [
    ("^Upload$", N_("Upload"), None),
    ("^Upload directories$", N_("Upload folders"), None),
    ("^(\\S+) per file$", N_("{size} per file"), "size"),
    ("^File must be (.+) or smaller\\.$", N_("File must be {size} or smaller."), "size"),
    ("^(.+) files are not allowed\\.$", N_("{type} files are not allowed."), "type"),
]
BUILTIN_SCRIPT = """<script>(() => {
  window.__digitLabTexts = %s;
  if (window.__digitLabTextsOn) return;
  window.__digitLabTextsOn = true;
  const seen = new WeakMap();  // text node -> [its English, what we showed]: a switch back restores the English
  const apply = () => document.querySelectorAll("[data-testid=stFileUploader]").forEach(root => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const before = seen.get(node);
      const english = before && node.nodeValue === before[1] ? before[0] : node.nodeValue;  // else Streamlit's new text
      let text = english;
      for (const [pattern, replacement] of window.__digitLabTexts) text = text.replace(new RegExp(pattern), replacement);
      seen.set(node, [english, text]);
      if (node.nodeValue !== text) node.nodeValue = text;
    }
  });
  new MutationObserver(apply).observe(document.body, {childList: true, subtree: true, characterData: true});
  apply();
})();</script>"""


def translate_builtin_texts() -> None:
    """Put Streamlit's own widget texts (BUILTIN_TEXTS) into this run's language in the browser."""
    pairs = [
        [pattern, _(message).format(**({field: "$1"} if field else {}))]
        for pattern, message, field in BUILTIN_TEXTS
        if i18n.current() != i18n.DEFAULT
    ]
    st.html(BUILTIN_SCRIPT % json.dumps(pairs, ensure_ascii=False), unsafe_allow_javascript=True)


def fragment(run_every: float | None = None):
    """st.fragment for a part of a page that redraws itself: a fragment's rerun is a script run of its own, so it
    sets the interface language again before drawing."""

    def wrap(draw):
        @functools.wraps(draw)  # Streamlit tells fragments apart by their function's name
        def localized(*args, **kwargs):
            use_language()
            return draw(*args, **kwargs)

        return st.fragment(run_every=run_every)(localized)

    return wrap


def shared_server() -> bool:
    """True when the app listens beyond this computer (server.address set to a network address by the host)."""
    return (st.get_option("server.address") or "") not in LOCAL_ADDRESSES


def folder_choice_offered() -> bool:
    """Whether the sidebar offers a folder of the server's as a dataset: always on a learner's own computer, on a
    shared server only where the host allowed folders ($DIGIT_LAB_DATA_FOLDERS)."""
    return not shared_server() or bool(allowed_folders())


def dataset_choices() -> list[str]:
    return [*SOURCES, *(MY + name for name in collection_names()), *([FOLDER] if folder_choice_offered() else [])]


def dataset_label(choice: str) -> str:
    if choice.startswith(MY):
        return _("My digits: {name}").format(name=choice[len(MY) :])
    return _(DATASET_LABELS.get(choice, choice))


@st.cache_resource(show_spinner=False, max_entries=8)
def _load(key: str, version: tuple | None) -> Source:
    # cache_resource, not cache_data: the tensors are shared, not unpickled afresh on every rerun.
    return load_source(key)


def _version(key: str) -> tuple | None:
    """A folder of digit folders changes while the server runs (drawings kept, deleted): its folders' times."""
    if key in SOURCES or not is_image_folder(key):
        return None
    return tuple((Path(key) / d).stat().st_mtime_ns if (Path(key) / d).is_dir() else 0 for d in DIGITS)


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server, so a refreshed tab or another page finds the same runs."""
    return JobQueue()


def device_label() -> str:
    return _device_label(i18n.current())


@st.cache_resource
def _device_label(language: str) -> str:
    # Checking the CPU's features takes a moment: once per language (the texts are written in it).
    device = resolve_device("auto")
    return _("{device}, {precision}").format(device=describe_device(device), precision=describe_precision(device))


def dataset_key() -> str:
    choice = st.session_state.get("dataset", "mnist")
    if choice == FOLDER:
        return (st.session_state.get("dataset_folder") or "").strip()
    if choice.startswith(MY):
        return str(Collection(choice[len(MY) :]).path)
    return choice


# Room under the sidebar's dataset box, made afresh by every run of the app script (a script run has a thread of
# its own, so a ContextVar holds this run's room). The sidebar is drawn before the page loads the data, so the page
# fills it in: loading there too would hold up pages that need no data (Home) while a download is tried.
_in_use_room: ContextVar = ContextVar("dataset_in_use_room", default=None)


def dataset_in_use_room() -> None:
    """Keep room here (under the dataset box) for the line current_source() writes when the data differs."""
    _in_use_room.set(st.empty())


def in_use_line(choice: str, source: Source) -> str | None:
    """A line saying which data is really in use when it is not what the sidebar's box names (full MNIST chosen,
    the offline sample loaded), else None."""
    if choice not in SOURCES or source.key == choice:
        return None
    n = sum(len(part) for part in (source.train, source.test) if part is not None)
    wanted = _(DATASET_LABELS[choice]).split(" (")[0].split("（")[0]
    return ":material/cloud_off: " + _(
        "In use instead: **{title}**, {n:,} images ({wanted} could not be loaded)"
    ).format(title=_(source.title), n=n, wanted=wanted)


def split_label(name: str) -> str:
    """A split's name ("MNIST sample / test", kept in English in records) in this run's language."""
    return " / ".join(_(part) for part in name.split(" / "))


def load_dataset(key: str) -> Source:
    """A dataset by its key (see data.load_source), loaded once per server and again when its folder changes."""
    with st.spinner(_("Loading the dataset…"), show_time=False):
        return _load(key, _version(key))


def current_source() -> Source | None:
    """The dataset chosen in the sidebar, or None after showing why it cannot be used."""
    key = dataset_key()
    if not key:
        st.info(_("Type the path of a folder holding MNIST idx files in the sidebar."))
        return None
    try:
        if st.session_state.get("dataset") == FOLDER and shared_server():
            key = str(check_folder(key, allowed_folders()))
        source = load_dataset(key)
    except (DataError, CollectionError, OSError) as e:
        st.error(_("This dataset cannot be used: {reason}").format(reason=e))
        return None
    if source.notice:
        st.info(source.notice, icon=":material/cloud_off:")
    room, line = _in_use_room.get(), in_use_line(st.session_state.get("dataset", "mnist"), source)
    if room is not None and line is not None:
        room.caption(line)
    return source


def my_collection() -> Collection:
    """This browser session's collection of kept drawings (named on the My digits page)."""
    try:
        return Collection(st.session_state.get("my_digits_name") or default_collection_name())
    except CollectionError:
        return Collection(default_collection_name())


def default_collection_name() -> str:
    """ "my-digits" on a learner's own computer; on a shared server one per browser (the name its student typed,
    else "my-digits-" and a few letters of its id), since a collection belongs to whoever keeps in it first."""
    if not shared_server():
        return DEFAULT_NAME
    me = person()
    try:
        return check_name(me.name) if me.name else f"{DEFAULT_NAME}-{me.id[:6]}"
    except CollectionError:
        return f"{DEFAULT_NAME}-{me.id[:6]}"


def checkpoints() -> list[Checkpoint]:
    return list_checkpoints()


# Okabe and Ito's colours, told apart by viewers with any common colour blindness; where lines or points of
# several kinds share a chart they also differ by marker shape (SYMBOLS) or dash, never by colour alone.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SYMBOLS = ["circle", "square", "diamond", "cross", "x", "triangle-up", "triangle-down", "star", "hexagon", "pentagon"]


def style(fig: go.Figure, title: str, x: str, y: str, height: int = 320) -> go.Figure:
    """Every chart gets a title, axis labels, colour-blind-safe colours and the same compact margins."""
    fig.update_layout(
        colorway=PALETTE,
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


# Margins for charts that are redrawn with new data (live training curves, the Draw page's probabilities):
# set once instead of measured from the tick labels, so a redraw keeps its layout and plotly skips that pass.
FIXED_MARGIN = dict(l=64, r=12, t=50, b=50)


def fixed_margins(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig.update_layout(margin=FIXED_MARGIN)


def last_run_line(job: Job | None) -> str | None:
    """How the last run ended, in one line for the sidebar."""
    if job is None:
        return None
    if job.status == "failed":
        return _("Last run failed: {reason}").format(reason=_plain(job.error or _("no reason given"), 160))
    summary = job.summary
    if summary is None or summary.accuracy is None:  # stopped before its first step: nothing to score or save
        return _("Last run: stopped before it had learned anything (nothing was saved)")
    if job.status == "stopped":
        return _("Last run: stopped early, {accuracy:.2%} test accuracy").format(accuracy=summary.accuracy)
    return _("Last run: done, {accuracy:.2%} test accuracy").format(accuracy=summary.accuracy)


def _plain(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, shown as written (no Markdown)."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return re.sub(r"([\\`*_[\]<>$~|])", r"\\\1", text)


def own_job() -> Job | None:
    """This session's training run: the one it started, or the one the Train page's address names (?run=)."""
    return job_queue().get(st.session_state.get("train_job") or st.query_params.get("run"))


def person() -> Person:
    """Whoever uses this session: their browser (the same across refreshes and pages), the name they typed, and
    whether they may manage every model (on their own computer always; on a shared server with the admin token)."""
    secret = _browser_secret(st.context.cookies.get(XSRF_COOKIE))
    if secret is None:  # XSRF protection turned off (no such cookie): this session alone
        secret = st.session_state.setdefault("browser_secret", os.urandom(16).hex())
    admin = not shared_server() or is_admin_token(st.session_state.get(ADMIN_KEY) or "")
    return Person(browser_id(secret), clean_name(st.session_state.get(NAME_KEY) or ""), admin)


XSRF_COOKIE = "_streamlit_xsrf"
NAME_KEY = "display_name"
ADMIN_KEY = "admin_token"


def _browser_secret(cookie: str | None) -> str | None:
    """The token inside Streamlit's XSRF cookie, which the browser keeps for the whole browser session. The cookie
    is written "2|mask|masked token|time" (hex) and masked afresh on every page load, so only the unmasked token
    stays the same."""
    try:
        version, mask, masked, _time = cookie.strip("\"'").split("|")
        mask_bytes, masked_bytes = bytes.fromhex(mask), bytes.fromhex(masked)
    except (AttributeError, ValueError):
        return None
    if version != "2" or not mask_bytes:
        return None
    return bytes(b ^ mask_bytes[i % len(mask_bytes)] for i, b in enumerate(masked_bytes)).hex()


@st.cache_resource
def typed_names() -> dict[str, str]:
    """browser id -> the name typed there, for the whole server while it runs: typed once, kept across refreshes."""
    return {}


def who_box() -> None:
    """On a shared server, the sidebar's place to type the name shown with your models, and for the host, the
    admin token that lets them manage every model."""
    if not shared_server():
        return
    names, me = typed_names(), person().id
    if NAME_KEY not in st.session_state and me in names:  # a refreshed tab: the name this browser typed before
        st.session_state[NAME_KEY] = names[me]
    with st.expander(_("You"), icon=":material/person:"):
        st.text_input(
            _("Your name"),
            key=NAME_KEY,
            max_chars=NAME_LENGTH,
            help=_("Shown with the models you train, so your class knows whose they are."),
        )
        names[me] = clean_name(st.session_state.get(NAME_KEY) or "")
        if admin_token_set():
            st.text_input(
                _("Teacher's admin token"),
                key=ADMIN_KEY,
                type="password",
                help=_("With the server's admin token you can rename and delete every model, not only your own."),
            )
            if person().admin:
                st.caption(_(":material/shield_person: You can manage every model."))
