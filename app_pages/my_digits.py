"""My digits: the drawings a learner kept on Draw, as a small dataset of their own handwriting."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_core.data.preprocess import ImageError, load_image, to_mnist
from mnist_core.i18n import _
from mnist_core.store.collections import DEFAULT_NAME, Collection, CollectionError, collection_names
from ui import charts, collections, datasets, identity, language, quotas, server
from ui.text import plain

SHOWN_PER_DIGIT = 12  # the newest drawings of each digit in the gallery


def use_name() -> None:
    language.use_language()  # a callback runs before the page sets this run's language
    name = st.session_state.get("my_digits_name_input", "").strip()
    try:
        st.session_state["my_digits_name"] = Collection(name).name
    except CollectionError as e:
        st.session_state["my_digits_name_error"] = str(e)


def use_as_dataset(name: str) -> None:
    st.session_state["dataset"] = datasets.MY + name  # the sidebar's box, set before it is drawn again
    st.session_state["my_digits_to_evaluate"] = True


def thumbnail(path) -> np.ndarray | None:
    """What the network gets from the drawing (28x28), or None when it cannot be read."""
    try:
        return to_mnist(load_image(path.read_bytes()))
    except (OSError, ImageError):
        return None


def counts_chart(counts: list[int]) -> go.Figure:
    fig = go.Figure(
        go.Bar(x=list(range(10)), y=counts, marker_color=charts.PALETTE[4], text=counts, textposition="auto")
    )
    fig.update_xaxes(dtick=1)
    return charts.style(fig, _("Drawings kept per digit"), _("digit"), _("drawings"), height=240)


if st.session_state.pop("my_digits_to_evaluate", False):
    st.switch_page("app_pages/evaluate.py")
st.title(_("My digits"))
st.caption(
    _(
        "The drawings you kept on **Draw**, each with its right digit: a small dataset of your own handwriting. "
        "Score a model on it, or fine-tune one so it reads your writing better."
    )
)
collection = collections.my_collection()
st.session_state.setdefault("my_digits_name_input", collection.name)
cols = st.columns([2, 3], vertical_alignment="bottom")
cols[0].text_input(
    _("Your collection"),
    key="my_digits_name_input",
    on_change=use_name,
    max_chars=40,
    help=_("Everyone on this server keeps their own named collection: type your name to start yours."),
)
others = [n for n in collection_names() if n != collection.name]
if others:
    cols[1].caption(_("Other collections on this server: {names}").format(names=", ".join(others[:12])))
if error := st.session_state.pop("my_digits_name_error", None):
    st.error(_("That name cannot be used: {error}. Still using **{name}**.").format(error=error, name=collection.name))

owner = collection.owner()
may_change = collection.may_change(identity.person())
if not may_change:
    st.caption(
        _(
            ":material/lock: **{name}** is {owner}'s collection: you can look at it and train on it, not change it."
        ).format(name=collection.name, owner=plain(owner.name) or _("someone else"))
    )
drawings = collection.drawings()
counts = [0] * 10
for d in drawings:
    counts[d.digit] += 1
if not drawings:
    st.info(
        _(
            "**{name}** has no drawings yet. On **Draw**, write a digit and press *Keep*: "
            "a few of each digit are enough to see how a model does on your handwriting."
        ).format(name=collection.name),
        icon=":material/draw:",
    )
    st.page_link("app_pages/draw.py", label=_("Draw a digit"), icon=":material/draw:")
else:
    st.plotly_chart(counts_chart(counts), key="my_digits_counts", config={"displayModeBar": False})
    actions = st.columns(3)
    actions[0].download_button(
        _("Download as a zip"),
        collection.to_zip(),
        file_name=f"{collection.name}.zip",
        mime="application/zip",
        icon=":material/download:",
        help=_("One folder per digit, the layout every image-folder tool reads (torchvision's ImageFolder)."),
    )
    actions[1].button(
        _("Score a model on it"),
        key="my_digits_evaluate",
        icon=":material/analytics:",
        on_click=use_as_dataset,
        args=(collection.name,),
        help=_(
            "Choose this collection as the dataset (sidebar) and open Evaluate: accuracy, confusion matrix, "
            "mistakes, as for MNIST."
        ),
    )
    actions[2].page_link(
        "app_pages/train.py",
        label=_("Fine-tune a model on it"),
        icon=":material/model_training:",
        query_params={"finetune": collection.name},
    )

with st.expander(_("Add drawings from a zip"), icon=":material/upload:"):
    upload = st.file_uploader(
        _("A zip with folders 0/ to 9/ of images"),
        type=["zip"],
        key="my_digits_upload",
        max_upload_size=server.ZIP_MB,
        help=_("Only images inside digit folders are taken; anything else in the archive is skipped."),
    )
    if upload is not None and st.session_state.get("my_digits_added") != upload.file_id:
        try:
            me = identity.person()
            room = quotas.drawing_room(me)
            if room == 0:
                raise CollectionError(quotas.drawing_refusal(me))
            added = collection.add_zip(upload.getvalue(), by=me, room=room)
        except (CollectionError, ValueError) as e:  # ValueError: the host's quota setting, said plainly
            st.error(_("**{name}** was not added: {error}.").format(name=upload.name, error=e))
        else:
            st.session_state["my_digits_added"] = upload.file_id  # a rerun must not add it again
            st.session_state["my_digits_added_report"] = (upload.name, added)
            st.rerun()
    report = st.session_state.get("my_digits_added_report")
    if upload is not None and report is not None and st.session_state.get("my_digits_added") == upload.file_id:
        name, added = report
        st.success(_("Added {n} drawings from {name}.").format(n=added.count, name=name))
        for line in added.skipped:
            st.warning(_("Not added: {reason}.").format(reason=line), icon=":material/image_not_supported:")

for digit in range(10):
    mine = [d for d in drawings if d.digit == digit][::-1][:SHOWN_PER_DIGIT]
    if not mine:
        continue
    if counts[digit] > len(mine):
        st.markdown(
            _("**{digit}** · {n} kept (newest {shown} shown)").format(digit=digit, n=counts[digit], shown=len(mine))
        )
    else:
        st.markdown(_("**{digit}** · {n} kept").format(digit=digit, n=counts[digit]))
    row = st.container(horizontal=True, key=f"my_digits_row_{digit}")
    for d in mine:
        with row.container(width=76):
            small = thumbnail(d.path)
            if small is None:
                st.caption(_("unreadable"))
            else:
                st.image(
                    np.kron(small, np.ones((2, 2), np.uint8)),
                    width=56,
                    alt=_("Your drawing of a {digit}").format(digit=digit),
                )
            if st.button(
                "",
                key=f"my_digits_delete_{d.path.name}",
                icon=":material/delete:",
                help=_("Delete this drawing"),
                disabled=not may_change,
            ):
                collection.delete(d.path, by=identity.person())
                st.rerun()

if drawings and DEFAULT_NAME == collection.name:
    st.caption(_("Sharing this server with others? Type your own name above so your drawings stay apart."))
