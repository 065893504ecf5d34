"""The interface's languages: every message the code shows has a Chinese translation that keeps its placeholders,
and the language is picked from the address, the sidebar and the browser as a learner expects."""

from __future__ import annotations

from string import Formatter

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from harness.browser import REPO
from mnist_core import i18n


def _source_messages() -> dict[str, tuple[str, int]]:
    """Every message the code marks with _(), N_() or ngettext(), as pybabel extracts them (babel.cfg)."""
    with (REPO / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {}
    for path, lineno, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, options_map, directory_filter=lambda d: not d.split("/")[-1].startswith(".")
    ):
        found.setdefault(message[0] if isinstance(message, tuple) else message, (path, lineno))
    return found


def _catalog(language: str):
    with i18n.catalog_path(language).open("rb") as f:
        return read_po(f, locale=language)


def _fields(text: str) -> list[tuple[str, str]]:
    """The {name:spec} fields of a message, which its translation must keep (in any order)."""
    return sorted((name, spec or "") for _lit, name, spec, _conv in Formatter().parse(text) if name is not None)


def test_every_message_in_the_code_has_a_chinese_translation():
    messages = _source_messages()
    assert len(messages) > 300, "the extraction found too few messages: is babel.cfg still pointing at the code?"
    catalog = _catalog("zh")
    missing = []
    for message, (path, lineno) in messages.items():
        entry = catalog.get(message) or next((m for m in catalog if m.id and m.id[0] == message), None)
        string = entry.string if entry is not None else ""
        string = string[0] if isinstance(string, tuple) else string
        if not string or entry.fuzzy:
            missing.append(f"{path}:{lineno}: {message[:70]!r}")
    assert not missing, f"{len(missing)} messages have no Chinese translation:\n" + "\n".join(missing[:40])


def test_no_translation_drops_or_changes_a_placeholder():
    broken = []
    for entry in _catalog("zh"):
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for s in strings:
            try:
                if s and _fields(s) != _fields(ids[0]):
                    broken.append(f"{ids[0][:60]!r}: {_fields(ids[0])} != {_fields(s)}")
            except ValueError as e:  # an unbalanced brace: .format() would raise in front of the learner
                broken.append(f"{ids[0][:60]!r}: {e}")
    assert not broken, "\n".join(broken)


def test_translations_are_used_and_keep_their_fields_working():
    i18n.use("zh")
    try:
        assert i18n._("Train") == "训练"
        assert i18n._("Last run: done, {accuracy:.2%} test accuracy").format(accuracy=0.9912) == (
            "上一次训练：已完成，测试准确率 99.12%"
        )
        assert i18n._("a message nobody wrote") == "a message nobody wrote"  # unknown text shows as written
    finally:
        i18n.use("en")
    assert i18n._("Train") == "Train"


@pytest.mark.parametrize(
    ("preferred", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-TW", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh;q=0.5", "zh"),  # French is not offered: the next language the browser accepts
        ("de-DE", "en"),
        ("en;q=0.2,zh;q=0.7", "zh"),
        ("", "en"),
        (None, "en"),
        ("zh;q=abc", "en"),
    ],
)
def test_the_browsers_preferred_language_picks_the_default(preferred, language):
    assert i18n.pick(preferred) == language


@pytest.fixture
def test_thread_language():
    """AppTest calls a box's format_func in the test's thread, not the script's: give it the language the page was
    drawn in."""
    yield i18n.use
    i18n.use("en")


def test_an_address_with_lang_opens_the_app_in_chinese_and_the_sidebar_switch_changes_it(app, test_thread_language):
    app.query_params["lang"] = "zh"
    test_thread_language("zh")
    app.run()
    assert not app.exception
    assert app.selectbox(key="lang").value == "zh"
    assert app.selectbox(key="dataset").label == "数据集"
    assert "训练" in " ".join(m.value for m in app.markdown)
    app.selectbox(key="lang").set_value("en").run()  # the boxes as drawn in Chinese send their values
    test_thread_language("en")
    assert app.selectbox(key="dataset").label == "Dataset"
    assert app.query_params.get("lang") in ("en", ["en"])  # a link copied now opens in English
    app.switch_page("app_pages/explore.py").run()
    assert app.selectbox(key="dataset").label == "Dataset"  # the choice holds across pages
