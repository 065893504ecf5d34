"""The interface's language in the app: this run's language (the address's ?lang=, the sidebar's box, the
browser's), Streamlit's own widget texts put into it, and fragments that set it again for their own reruns."""

from __future__ import annotations

import functools
import json

import streamlit as st

from mnist_core import i18n
from mnist_core.i18n import LANGUAGES, N_, _

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
