"""The app shell: home page, navigation to every page, the shared sidebar."""
from conftest import open_page


def test_home_explains_the_app_and_links_every_page(app):
    app.run()
    assert not app.exception
    assert "Digit Lab" in app.title[0].value
    text = " ".join(m.value for m in app.markdown)
    assert "train" in text.lower() and "draw" in text.lower()


def test_sidebar_shows_dataset_choice_and_device(app):
    app.run()
    box = app.sidebar.selectbox(key="dataset")
    assert set(box.options) >= {"MNIST (70,000 handwritten digits)", "MNIST sample (5,000 real digits, works offline)"}
    assert any("Computing on" in c.value for c in app.sidebar.caption)


def test_every_page_opens_without_exception(app):
    for page in ("explore", "train", "evaluate", "draw"):
        open_page(app, page)
