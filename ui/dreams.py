"""Inside's "What the network imagines": the selected model's ten dream digits, and the favourite strokes of one
convolution layer's channels (mnist_core.insight.dream), made when asked and kept for the whole server."""

from __future__ import annotations

import numpy as np
import streamlit as st
from torch import nn

from mnist_core.i18n import _
from mnist_core.insight.dream import Dream, conv_layers, dream_channel, dream_digit
from mnist_core.learning.config import TrainConfig
from ui import pictures

CHANNELS = 8  # favourite strokes drawn per layer: a row on a desktop, two on a phone


@st.cache_data(max_entries=16, show_spinner=False)
def _digits(model_key: tuple[str, str], _model: nn.Module, _config: TrainConfig) -> list[Dream]:
    return [dream_digit(_model, _config, d) for d in range(10)]


@st.cache_data(max_entries=16, show_spinner=False)
def _channels(model_key: tuple[str, str], layer: str, _model: nn.Module, _config: TrainConfig) -> list[Dream]:
    return [dream_channel(_model, _config, layer, k) for k in range(min(CHANNELS, conv_layers(_model)[layer]))]


def _strip(dreams: list[Dream], columns: int) -> np.ndarray:
    """Dark ink on white paper, as the digits were written, in whole-pixel blocks about 112 pixels wide: a
    channel's picture is cut to the pixels it sees, so a small field is drawn larger."""
    seen = [np.clip(d.seen() * 255.0 + 0.5, 0, 255).astype(np.uint8) for d in dreams]
    side = max(max(s.shape) for s in seen)
    cells = []
    for s in seen:  # each on a square of paper of the largest one's side
        cell = np.zeros((side, side), np.uint8)
        top, left = (side - s.shape[0]) // 2, (side - s.shape[1]) // 2
        cell[top : top + s.shape[0], left : left + s.shape[1]] = s
        cells.append(np.repeat((255 - cell)[..., None], 3, -1))
    return pictures.tile(np.stack(cells), columns, max(1, 112 // side), gap=6)


def section(model_key: tuple[str, str], model: nn.Module, config: TrainConfig) -> None:
    """The expander on Inside; `model_key` (checkpoint folder, creation time) names the model in the caches."""
    with st.expander(_("What does this network imagine? (no drawing needed)"), icon=":material/auto_awesome:"):
        st.caption(
            _(
                "Starting from blank paper, the picture is changed step by step until the network is as sure as it "
                "gets that it shows the digit: its idea of each digit, which need not look like yours."
            )
        )
        asked = st.session_state.setdefault("inside_dreamt", set())
        if st.button(
            _("Dream the ten digits"),
            key="inside_dream_digits",
            icon=":material/auto_awesome:",
            help=_("A few seconds: each digit's picture is changed 300 times, a little each time."),
        ):
            asked.add(model_key)
        if model_key in asked:
            with st.spinner(_("Dreaming…")):
                dreams = _digits(model_key, model, config)
            st.image(
                _strip(dreams, 5),
                alt=_("Ten pictures, the digits 0 to 9 as this network imagines them"),
            )
            st.caption(
                " · ".join(
                    _("{digit}: {p} sure").format(digit=d.digit, p=pictures.percent(d.probability)) for d in dreams
                )
            )
        layers = list(conv_layers(model))[1:]  # the first layer's own 3x3 view is its filters, under Layer by layer
        if not layers:
            return
        st.markdown(_("**Favourite strokes.** What most excites a few channels of one convolution layer."))
        layer = st.selectbox(
            _("Convolution layer"),
            layers,
            key="inside_dream_layer",
            help=_("An early layer waits for short strokes; a deeper one sees more of the digit at once."),
            format_func=lambda name: _("convolution {n} ({channels} channels)").format(
                n=list(conv_layers(model)).index(name) + 1, channels=conv_layers(model)[name]
            ),
        )
        if st.button(
            _("Dream its channels' favourite strokes"),
            key="inside_dream_channels",
            icon=":material/brush:",
            help=_("The first {n} channels of the layer, one picture each.").format(n=CHANNELS),
        ):
            asked.add((*model_key, layer))
        if (*model_key, layer) in asked:
            with st.spinner(_("Dreaming…")):
                dreams = _channels(model_key, layer, model, config)
            st.image(
                _strip(dreams, 4),
                alt=_("The stroke each of the first {n} channels of this layer responds to most").format(n=len(dreams)),
            )
            st.caption(
                _(
                    "Each picture is what one channel waits for where it looks at the middle of the picture, cut to "
                    "the {side} by {side} pixels it sees there."
                ).format(side=max(max(d.seen().shape) for d in dreams))
            )
