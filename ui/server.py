"""The server the app runs on: whether it is shared beyond this computer, how big an upload it takes, and the
device its runs train on."""

from __future__ import annotations

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


def shared_server() -> bool:
    """True when the app listens beyond this computer (server.address set to a network address by the host)."""
    return (st.get_option("server.address") or "") not in LOCAL_ADDRESSES


def device_label() -> str:
    return _device_label(i18n.current())


@st.cache_resource
def _device_label(language: str) -> str:
    # Checking the CPU's features takes a moment: once per language (the texts are written in it).
    device = resolve_device("auto")
    return _("{device}, {precision}").format(device=describe_device(device), precision=describe_precision(device))
