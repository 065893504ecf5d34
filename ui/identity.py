"""Who uses this session: their browser (from a long-lived cookie of the app's own), the name they typed, and
whether they hold the host's admin token; the sidebar's box to type them, and to start afresh on a shared computer."""

from __future__ import annotations

import os
import re

import streamlit as st

from mnist_core.i18n import _
from mnist_core.store.owners import NAME_LENGTH, Person, admin_token_set, browser_id, clean_name, is_admin_token
from ui import datasets, language
from ui.server import shared_server

COOKIE = "digit_lab_browser"  # the browser's secret, 32 hex digits: sent back to this host only
COOKIE_DAYS = 400  # the longest a browser keeps a cookie (Chrome caps Max-Age at 400 days)
SECRET_KEY = "browser_secret"
XSRF_COOKIE = "_streamlit_xsrf"
NAME_KEY = "display_name"
ADMIN_KEY = "admin_token"
_SECRET_RULE = re.compile(r"[0-9a-f]{32}")
KEPT_ON_START_FRESH = (language.LANGUAGE_KEY, "lang_from_address", "dataset")


def person() -> Person:
    """Whoever uses this session: their browser (the same across refreshes, pages and browser restarts), the name
    they typed, and whether they may manage every model (on their own computer always; on a shared server with the
    admin token)."""
    admin = not shared_server() or is_admin_token(st.session_state.get(ADMIN_KEY) or "")
    return Person(browser_id(_secret()), clean_name(st.session_state.get(NAME_KEY) or ""), admin)


def _secret() -> str:
    """The secret this browser holds. Streamlit reads cookies once, when the session connects, so the session keeps
    its own copy: one made here on a first visit (and then written to the cookie) is used from the first page on."""
    secret = st.session_state.get(SECRET_KEY)
    if not secret:
        cookie = _cookie(COOKIE).strip().lower()
        # No cookie yet: the XSRF token keeps the id this browser had before the app had a cookie of its own.
        xsrf = _browser_secret(_cookie(XSRF_COOKIE)) or ""
        secret = next((s for s in (cookie, xsrf) if _SECRET_RULE.fullmatch(s)), None)
        st.session_state[SECRET_KEY] = secret or os.urandom(16).hex()
    return st.session_state[SECRET_KEY]


def _cookie(name: str) -> str:
    value = st.context.cookies.get(name)
    return value if isinstance(value, str) else ""  # AppTest's context has no real cookies


def keep_cookie() -> None:
    """Write this session's secret to the browser's cookie when the browser does not hold it yet (a first visit,
    or after "Start fresh"): a tiny script, as Streamlit itself sets no cookies of an app's."""
    secret = _secret()
    if _cookie(COOKIE) == secret or not _SECRET_RULE.fullmatch(secret):
        return  # already kept (or a test's own secret, which is not a browser's)
    st.html(
        "<script>document.cookie = "
        f'"{COOKIE}={secret}; Max-Age={COOKIE_DAYS * 86400}; Path=/; SameSite=Lax"'
        ' + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
    )


def start_fresh() -> None:
    """Forget who this browser was: a new secret (so a new id), and none of the last person's name, admin token,
    runs or page state; on a shared computer the next student inherits none of their models, drawings or progress."""
    typed_names().pop(person().id, None)
    for key in list(st.session_state):
        value = st.session_state[key]
        # The page's language and a dataset that is nobody's own stay: the next person is most likely in that class.
        if key in KEPT_ON_START_FRESH and not (key == "dataset" and str(value).startswith(datasets.MY)):
            continue
        del st.session_state[key]
    st.session_state[SECRET_KEY] = os.urandom(16).hex()
    st.query_params.pop("run", None)  # the last person's run stays theirs


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
    """On a shared server, the sidebar's place to type the name shown with your models, for the host the admin
    token that lets them manage every model, and for a shared computer a way to stop being the last person."""
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
        st.button(
            _("Not me? Start fresh"),
            key="identity_start_fresh",
            icon=":material/restart_alt:",
            on_click=start_fresh,
            help=_(
                "On a computer others use too: this browser forgets who used it, so the next person cannot change "
                "your models and drawings or see your Learn progress. You cannot get them back from this browser."
            ),
        )
