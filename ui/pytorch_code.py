"""The "Show the PyTorch code" expander: the training run a page's settings describe, as a standalone script to
read and download. The Train page and the Learn lessons' training widgets share it; the script itself comes from
the engine (mnist_core/learning/pytorch_script.py)."""

from __future__ import annotations

import streamlit as st

from mnist_core import i18n
from mnist_core.i18n import _
from mnist_core.learning.config import ConfigError, TrainConfig
from mnist_core.learning.pytorch_script import pytorch_script, script_filename


def show_code(config: TrainConfig, key: str) -> None:
    """An expander with the script that trains `config` as Start would, commented in the page's language, and a
    button that downloads it. `key` tells this widget apart from others on the same page."""
    with st.expander(_("Show the PyTorch code"), icon=":material/code:", key=f"{key}_expander"):
        try:
            script = pytorch_script(config, i18n.current())
        except ConfigError as e:
            st.warning(_("No script for these settings: {error}").format(error=e))
            return
        st.caption(
            _(
                "These settings as a PyTorch script of its own: the same network, training settings and seed, with a "
                "comment before each step. Give it a folder of MNIST idx files (or let it download MNIST) and run it "
                "with Python on any computer that has PyTorch; its last line is the test accuracy."
            )
        )
        st.download_button(
            _("Download the script"),
            script,
            file_name=script_filename(config),
            mime="text/x-python",
            key=f"{key}_download",
            icon=":material/download:",
            on_click="ignore",  # a download needs no rerun: a live run's charts keep their place
            help=_("Save it as a .py file and run it with: python {file} --data-dir FOLDER").format(
                file=script_filename(config)
            ),
        )
        st.code(script, language="python", wrap_lines=True, height=480)  # a box of its own: the page stays short
