"""The interface's languages: gettext catalogs (written and updated with Babel) and the language of this run.

Messages are written in English in the code, wrapped in `_()` where they are shown, or in `N_()` where they are
defined once (model descriptions, recipe titles) and translated with `_()` where shown. Placeholders are
`{name}` fields filled with `.format()` after translating, so a translation can move them. The Chinese catalog is
`mnist_core/locales/zh/LC_MESSAGES/messages.po`; docs/developing.md says how to update it.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"
LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"

# The language of the script run (or CLI call) in progress: each Streamlit script run has a thread, and so a
# context, of its own, so two browser sessions in two languages never see each other's choice.
_language: ContextVar[str] = ContextVar("language", default=DEFAULT)


def catalog_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> NullTranslations:
    """The catalog of `language`, compiled from its .po file in memory (no build step, no binary in git)."""
    path = catalog_path(language)
    if language == DEFAULT or not path.exists():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy (unchecked) translations are left out: the English shows instead
    compiled.seek(0)
    return GNUTranslations(compiled)


def use(language: str) -> None:
    """Make `language` the one `_()` translates into for the rest of this run (unknown ones give English)."""
    _language.set(language if language in LANGUAGES else DEFAULT)


def current() -> str:
    return _language.get()


def _(message: str) -> str:
    """`message` in the current language."""
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the current language."""
    return translations(_language.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks `message` for the catalog where it is defined; it is translated with `_()` where it is shown."""
    return message


def pick(preferred: str | None) -> str:
    """The interface language for a browser's preferred language ("zh-CN", "zh-Hans-TW", "en-US", or an HTTP
    Accept-Language list such as "zh-CN,zh;q=0.9,en;q=0.8"): the first one we have, else English."""
    weighted = []
    for i, part in enumerate((preferred or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > 0:  # q=0 (or an unreadable weight) means "not this one"
            weighted.append((-q, i, tag.strip().lower()))
    for _q, _i, tag in sorted(weighted):
        base = tag.replace("_", "-").split("-")[0]
        if base in LANGUAGES:
            return base
    return DEFAULT
