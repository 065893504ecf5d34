"""Evaluate: how good is a saved model, where does it go wrong, and which saved model is best."""

import plotly.graph_objects as go
import streamlit as st

from mnist_core.data.sources import DataError
from mnist_core.i18n import N_, _
from mnist_core.learning.evaluation import evaluate
from mnist_core.store.checkpoints import (
    CheckpointError,
    OwnerRecord,
    delete_checkpoint,
    export_checkpoint,
    import_checkpoint,
    load_checkpoint,
    may_change,
    rename_checkpoint,
    skipped_entries,
)
from ui import charts, datasets, identity, language, quotas, runs, server
from ui import evaluation as ev
from ui.text import plain

ANY = -1
SPLIT_LABELS = {"test": N_("test"), "train": N_("train"), "all": N_("all")}  # the radio's values stay the keys


@st.cache_resource(show_spinner=_("Scoring the model on every image…"), max_entries=16)
def _report(key: tuple, _source, _path):
    """One evaluation per (checkpoint, creation time, dataset, split): reruns reuse it instantly."""
    model, ckpt = load_checkpoint(_path)
    return evaluate(model, _source.split(key[3]), ckpt.config, "auto", _source.classes)


def _import_upload():
    """Runs once per uploaded file (on_change), so a rerun never imports the same file twice."""
    language.use_language()  # a callback runs before the page sets this run's language
    uploaded = st.session_state.get(f"eval_upload_{st.session_state.get('eval_upload_n', 0)}")
    if uploaded is None:
        return
    try:
        me = identity.person()
        refusal = quotas.model_refusal(me)
        if refusal is not None:
            raise CheckpointError(refusal)
        path = import_checkpoint(uploaded.getvalue(), owner=OwnerRecord(me.id, me.name))
        st.session_state["eval_upload_msg"] = (
            "success",
            _("Imported **{name}** as a new saved model.").format(name=plain(uploaded.name, 80)),
        )
        st.session_state["eval_model"] = path.name
    except CheckpointError as e:
        st.session_state["eval_upload_msg"] = (
            "error",
            _("**{name}** was refused: {error}").format(name=plain(uploaded.name, 80), error=e),
        )
    st.session_state["eval_upload_n"] = st.session_state.get("eval_upload_n", 0) + 1  # empty the uploader


def _show(message):
    if message:
        getattr(st, message[0])(message[1])


def _uploader():
    st.file_uploader(
        _("Upload a Digit Lab model (.safetensors)"),
        on_change=_import_upload,
        key=f"eval_upload_{st.session_state.get('eval_upload_n', 0)}",
        max_upload_size=server.MODEL_MB,
        help=_(
            "Only files made with this page's Download button are accepted. PyTorch .pt/.pth "
            "files are refused unopened, because opening them can run code."
        ),
    )
    _show(st.session_state.pop("eval_upload_msg", None))


st.title(_("Evaluate a model"))
st.caption(_("Score a saved model on many images at once, see which digits it mixes up, and look at its mistakes."))

source = datasets.current_source()
if source is None:
    st.stop()
ckpts = runs.checkpoints()
skipped = skipped_entries()
if skipped:  # foreign or unfinished things in models/: say they were passed over, touch nothing
    st.caption(
        _(
            "Not listed: {n} item(s) in the models folder that are not complete checkpoints "
            "({names}). They were left as they are."
        ).format(n=len(skipped), names=", ".join(skipped[:8]) + (", …" if len(skipped) > 8 else ""))
    )
if not ckpts:
    _show(st.session_state.pop("eval_flash", None))
    st.info(
        _("There is no saved model yet. Train one first: the fast preset takes under a minute."),
        icon=":material/model_training:",
    )
    st.page_link("app_pages/train.py", label=_("Go to the Train page"), icon=":material/model_training:")
    _uploader()
    st.stop()

by_id = {c.run_id: c for c in ckpts}
if st.session_state.get("eval_model") not in by_id:
    st.session_state["eval_model"] = ckpts[0].run_id  # newest first, also after a delete
left, right = st.columns([3, 2])
run_id = left.selectbox(
    _("Saved model"),
    list(by_id),
    key="eval_model",
    persist_state="session",
    format_func=lambda r: ev.checkpoint_label(by_id[r]),
    help=_("Which trained model to score. The newest is picked first."),
)
# Offer only the parts the dataset has; one without a test part (a folder of your own drawings) is scored whole.
splits = [s for s in ("test", "train") if source.test is not None and getattr(source, s) is not None] + ["all"]
if st.session_state.get("eval_split") not in splits:
    st.session_state["eval_split"] = splits[0]
split = right.radio(
    _("Images to score"),
    splits,
    key="eval_split",
    persist_state="session",
    horizontal=True,
    format_func=lambda s: _(SPLIT_LABELS[s]),
    help=_("test = images kept apart from training, the honest measure; train = the ones it learned from; all = both."),
)
ckpt, classes = by_id[run_id], source.classes
note = ev.dataset_note(ckpt.record.dataset, source.key, source.title, split)
if note:
    getattr(st, note[0])(note[1])

try:
    report = _report(ev.report_key(ckpt, source.key, split), source, ckpt.path)
except (CheckpointError, DataError, ValueError) as e:
    st.error(_("This model cannot be scored here: {error}").format(error=e))
    st.stop()

m = st.columns(4)
m[0].metric(_("Accuracy"), f"{report.accuracy:.2%}", help=_("Share of the images the model read correctly."))
m[1].metric(
    _("Loss"),
    f"{report.loss:.3f}",
    help=_("Average cross-entropy: lower means the model is right *and* sure of it."),
)
m[2].metric(
    _("Images scored"),
    f"{report.n:,}",
    help=_("From {dataset} / {split}.").format(dataset=_(source.title), split=_(SPLIT_LABELS[split])),
)
m[3].metric(
    _("Mistakes"),
    f"{int((report.labels != report.predictions).sum()):,}",
    help=_("Images whose predicted class differs from the true one."),
)

# A click on a confusion-matrix cell picks that (true, predicted) pair for the gallery below.
clicked = ev.pair_from_selection(st.session_state.get("eval_cm"), classes)
if clicked and clicked != st.session_state.get("eval_cm_last"):
    st.session_state["eval_true"], st.session_state["eval_pred"] = clicked
st.session_state["eval_cm_last"] = clicked

st.subheader(_("Which classes get mixed up"))
c1, c2 = st.columns(2)
with c1:
    norm = st.toggle(
        _("Show as % of each true class"),
        key="eval_norm",
        help=_(
            "Off: how many images fall in each cell. On: each row as percentages, so rare and "
            "common classes compare fairly."
        ),
    )
    cells = ev.confusion_cells(report.confusion, classes, norm)
    # Heatmaps cannot be selected in plotly, so an invisible marker on every cell takes the clicks;
    # the clicked cell gets an outline in vermillion, which stands out on the blues.
    fig = go.Figure(
        [
            go.Heatmap(
                z=cells["z"],
                x=classes,
                y=classes,
                text=cells["text"],
                texttemplate="%{text}",
                colorscale="Blues",
                showscale=False,
                hoverinfo="skip",
            ),
            go.Scatter(
                x=cells["x"],
                y=cells["y"],
                mode="markers",
                hovertext=cells["hover"],
                hoverinfo="text",
                marker=dict(symbol="square-open", size=30, color=charts.PALETTE[5], line=dict(width=3), opacity=0),
                selected=dict(marker=dict(opacity=1)),
                unselected=dict(marker=dict(opacity=0)),
                showlegend=False,
            ),
        ]
    )
    n = len(classes)  # fixed ranges: the markers must not pad the axes
    fig.update_yaxes(type="category", range=[n - 0.5, -0.5])
    fig.update_xaxes(type="category", range=[-0.5, n - 0.5])
    fig.update_layout(hoverdistance=40)
    charts.style(fig, _("Confusion matrix: true class vs prediction"), _("Predicted"), _("True"), height=520)
    st.plotly_chart(fig, key="eval_cm", on_select="rerun", selection_mode="points", config={"displayModeBar": False})
    st.caption(_("The diagonal holds the correct answers. Click any other cell to see those images below."))
with c2:
    st.markdown(_("**Per class**"))
    st.dataframe(ev.per_class_table(report), hide_index=True)
    st.caption(
        _(
            "Precision: when it says 4, how often it really is a 4. Recall: of all real 4s, how many it "
            "found. F1 balances the two."
        )
    )
    st.markdown(_("**Most confused pairs**"))
    pairs = ev.confused_pairs(report, classes, k=6)
    if pairs.empty:
        st.success(_("No mistakes at all on these images."))
    else:
        st.dataframe(pairs, hide_index=True)

st.subheader(_("Mistakes up close"))
options = [ANY, *range(len(classes))]
g1, g2 = st.columns(2)
true = g1.selectbox(
    _("True class"),
    options,
    key="eval_true",
    format_func=lambda i: _("any") if i == ANY else classes[i],
    help=_("Show only images that really are this class."),
)
pred = g2.selectbox(
    _("Predicted as"),
    options,
    key="eval_pred",
    format_func=lambda i: _("any") if i == ANY else classes[i],
    help=_("Show only images the model read as this class."),
)
t, p = (None if true == ANY else true), (None if pred == ANY else pred)
idx, captions, total = ev.gallery(report, classes, t, p)
if total == 0:
    st.info(_("No images for this choice.") if t is None or p is None or t != p else _("No images of that class here."))
else:
    if t is not None and t == p:
        showing = _(
            "Showing {shown} of {total} correct readings, most confident first. Under each image: its true "
            "class → what the model read, and how sure it was."
        )
    else:
        showing = _(
            "Showing {shown} of {total} mistakes, most confident first. Under each image: its true "
            "class → what the model read, and how sure it was."
        )
    st.caption(showing.format(shown=len(idx), total=total))
    grid = st.container(horizontal=True, key="eval_gallery")
    for i, tile, caption in zip(idx, ev.enlarge(source.split(split).images[idx].numpy()), captions):
        cell = grid.container(width=124)
        cell.image(tile, caption=caption, width=124, alt=_("Handwritten digit: {caption}").format(caption=caption))
        cell.page_link(
            "app_pages/inside.py",
            label=_("Look inside"),
            icon=":material/neurology:",  # why this answer
            query_params={"image": str(i), "split": split, "model": run_id},
        )

st.subheader(_("All saved models"))
_show(st.session_state.pop("eval_flash", None))
me = identity.person()
st.dataframe(ev.comparison_table(ckpts, me.id), hide_index=True)
st.caption(_("Accuracy and training time as recorded when each model was saved, on the data named in Dataset."))
with st.expander(_("Manage **{name}**: rename, delete, download").format(name=plain(ckpt.name))):
    mine = may_change(ckpt.record, me)
    if not mine:
        maker = ev.made_by(ckpt, me.id)
        st.caption(
            (
                _(":material/lock: Made by {name}: only they, or the teacher, can rename or delete it.").format(
                    name=plain(maker)
                )
                if maker
                else _(":material/lock: Only the teacher can rename or delete this model.")
            )
            + " "
            + _("Everyone can use it and download it.")
        )
    r1, r2 = st.columns([3, 1], vertical_alignment="bottom")
    new_name = r1.text_input(
        _("New name"),
        value=ckpt.name,
        key=f"eval_name_{run_id}",
        disabled=not mine,
        help=_("A name you will recognise; the file on disk keeps its run id."),
    )
    if r2.button(_("Rename"), key="eval_rename", disabled=not mine, help=_("Save the new name.")):
        try:
            rename_checkpoint(ckpt.path, new_name, by=me)
            st.session_state["eval_flash"] = ("success", _("Renamed to **{name}**.").format(name=plain(new_name)))
            st.rerun()
        except (CheckpointError, OSError) as e:
            st.error(_("Could not rename it: {error}").format(error=e))
    try:  # the bytes now (a few MB at most), not a callable: a deferred download's click sometimes got no file
        exported = export_checkpoint(ckpt.path)
    except (CheckpointError, OSError) as e:
        st.error(_("Could not prepare the download: {error}").format(error=e))
    else:
        st.download_button(
            _("Download this model"),
            data=exported,
            file_name=f"{run_id}.safetensors",
            mime="application/octet-stream",
            key="eval_download",
            on_click="ignore",
            help=_("One .safetensors file with the weights and their record; upload it here on another computer."),
        )
    if st.session_state.get("eval_confirm") != run_id:
        if st.button(
            _("Delete this model…"),
            key="eval_delete",
            disabled=not mine,
            help=_("Remove it from disk (you will be asked to confirm)."),
        ):
            st.session_state["eval_confirm"] = run_id
            st.rerun()
    else:
        st.warning(_("Delete **{name}** for good? This cannot be undone.").format(name=plain(ckpt.name)))
        yes_col, no_col, _spare = st.columns([1, 1, 3])
        if yes_col.button(_("Yes, delete it"), key="eval_delete_yes", type="primary"):
            try:
                delete_checkpoint(ckpt.path, by=me)
                st.session_state["eval_flash"] = ("success", _("Deleted **{name}**.").format(name=plain(ckpt.name)))
            except (CheckpointError, OSError) as e:
                st.session_state["eval_flash"] = ("error", _("Could not delete it: {error}").format(error=e))
            st.session_state.pop("eval_confirm", None)
            st.rerun()
        if no_col.button(_("Cancel"), key="eval_delete_no"):
            st.session_state.pop("eval_confirm", None)
            st.rerun()
_uploader()
