"""Text someone typed or uploaded (model names, display names, file names), shown as written: Streamlit reads
Markdown, icons and colours in most texts, and plotly reads HTML tags in legends."""

from __future__ import annotations

import html
import re

# Every character that starts Markdown, HTML, a Streamlit directive (:red[...], :material/x:, emoji) or LaTeX.
_MARKUP = re.compile(r"([\\`*_[\]<>$~|:])")


def plain(text: str, limit: int | None = None) -> str:
    """`text` on one line, at most `limit` characters, escaped so that Markdown shows it as written."""
    text = " ".join((text or "").split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MARKUP.sub(r"\\\1", text)


def chart_text(text: str) -> str:
    """`text` for a plotly legend or title, which reads <b>, <a href=...> and entities: escaped to show as written."""
    return html.escape(" ".join((text or "").split()), quote=False)
