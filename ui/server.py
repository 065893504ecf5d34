"""The server the app runs on: whether it is shared beyond this computer, how big an upload it takes, and the
device its runs train on."""

from __future__ import annotations

import os

import streamlit as st

from mnist_core import i18n
from mnist_core.i18n import _
from mnist_core.learning.devices import describe_device, describe_precision, resolve_device

# Upload limits in MB, each well above what its file needs (a phone photo is 2-12 MB, the largest model 5 MB), so
# that a shared server cannot be filled up by one visitor; the page shows each as "Limit N MB per file" and refuses
# a bigger file with Streamlit's own message. .streamlit/config.toml caps every upload at the largest of them.
PHOTO_MB = 20
MODEL_MB = 10
ZIP_MB = 50

LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")
SHARED_ENV = "DIGIT_LAB_SHARED"


def shared_setting() -> bool | None:
    """What the host said in $DIGIT_LAB_SHARED: 1 on, 0 off, None unset. Any other value counts as on, so that a
    typing mistake never turns a class's protections off."""
    value = os.environ.get(SHARED_ENV, "").strip()
    return None if not value else value != "0"


def listens_beyond_this_computer() -> bool:
    return (st.get_option("server.address") or "") not in LOCAL_ADDRESSES


def shared_server() -> bool:
    """True when other people reach this app: DIGIT_LAB_SHARED=1 (e.g. behind a reverse proxy on 127.0.0.1), or
    server.address set to a network address by the host, unless DIGIT_LAB_SHARED=0 says it is one person's."""
    setting = shared_setting()
    return listens_beyond_this_computer() if setting is None else setting


def mode_line() -> str:
    """The sidebar's line saying whose runs and models are whose on this server."""
    if shared_server():
        return _(":material/groups: Shared server: each student's runs and models are their own.")
    if listens_beyond_this_computer():  # DIGIT_LAB_SHARED=0 on a network address: say what that means
        return _(
            ":material/warning: Not shared (DIGIT_LAB_SHARED=0): everyone who opens this server can stop any run "
            "and change any model."
        )
    return _(":material/computer: On this computer only: every tab is you.")


def device_label() -> str:
    return _device_label(i18n.current())


@st.cache_resource
def _device_label(language: str) -> str:
    # Checking the CPU's features takes a moment: once per language (the texts are written in it).
    device = resolve_device("auto")
    return _("{device}, {precision}").format(device=describe_device(device), precision=describe_precision(device))
