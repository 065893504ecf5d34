"""Who uses this session: their browser (from Streamlit's XSRF cookie), the name they typed, and whether they hold
the host's admin token; the sidebar's box to type them."""

from __future__ import annotations

import os

import streamlit as st

from mnist_core.i18n import _
from mnist_core.store.owners import NAME_LENGTH, Person, admin_token_set, browser_id, clean_name, is_admin_token
from ui.server import shared_server


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
