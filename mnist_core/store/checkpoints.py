"""Checkpoints: models/<run-id>/weights.safetensors + meta.json. Nothing is ever unpickled.

A save writes into a hidden temporary folder and renames it into place, so a crash mid-save never
leaves a half-written checkpoint that gets listed. Loading checks the architecture, every tensor
name and shape, and refuses damaged files with a one-line CheckpointError.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import load_file, save
from torch import nn

from mnist_core.data.sources import REPO_ROOT, SOURCES
from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event
from mnist_core.learning.models import MODELS, build_model
from mnist_core.store.owners import Person, may_manage

WEIGHTS, META = "weights.safetensors", "meta.json"
FORMAT = "digit-lab-checkpoint/1"
_META_KEY = "digit_lab"  # where an exported single file keeps meta.json in its safetensors header
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class CheckpointError(Exception):
    """A checkpoint that cannot be saved or used; the message says why in one line."""


class _Record(BaseModel):
    """A part of meta.json. Pydantic checks each field's JSON type strictly (no "5" for 5, no true for 1) and keeps
    the fields this version does not know, so they are written back as read; a field left out is None."""

    model_config = ConfigDict(strict=True, frozen=True, extra="allow")

    @model_serializer(mode="wrap")
    def _without_empty_fields(self, handler) -> dict:
        return {k: v for k, v in handler(self).items() if v is not None or k not in type(self).model_fields}


class DatasetRecord(_Record):
    """What a model was trained on (meta.json's "dataset")."""

    source: str | None = None  # a data.SOURCES key or a folder path
    title: str | None = None
    split: str | None = None  # "train" or "all"
    n_train: int | None = None
    evaluated_on: str | None = None  # the held-out split its accuracy was measured on, in words
    eval_source: str | None = None  # where that held-out split came from, when not from `source` itself
    eval_split: str | None = None
    seed: int | None = None  # the seed that carved a held-out share, when there was no test split
    classes: list[str] | None = None

    @property
    def label(self) -> str:
        return self.title or self.source or "?"


class MetricsRecord(_Record):
    """How the run went (meta.json's "metrics")."""

    accuracy: float | None = None  # on the held-out set named by DatasetRecord.evaluated_on
    loss: float | None = None
    n: int | None = None  # held-out images scored
    seconds: float | None = None  # training time
    images_per_s: float | None = None
    device: str | None = None
    stopped: bool | None = None  # ended early by Stop (or a server shutdown)
    epochs_done: int | None = None
    cut_short: bool | None = None  # its worker died or hung mid-run: the model after epochs_done epochs


class FinetuneRecord(_Record):
    """A model fine-tuned from another (meta.json's "finetune"): its parent and accuracy before and after."""

    parent: str  # the run id of the model it started from
    personal_source: str | None = None  # the collection (a folder) it learned from
    personal: str | None = None  # the personal held-out images, in words
    personal_before: float | None = None
    personal_after: float | None = None
    reference: str | None = None  # the parent's own kind of held-out images, in words
    reference_before: float | None = None
    reference_after: float | None = None


class OwnerRecord(_Record):
    """Who made a model (meta.json's "owner"): their browser's id (owners.browser_id) and the name they typed."""

    id: str = ""
    name: str = ""

    def __init__(self, id: str = "", name: str = "", **extra) -> None:  # OwnerRecord(person.id, person.name)
        super().__init__(id=id, name=name, **extra)


class Normalisation(_Record):
    mean: float | None = None
    std: float | None = None


class ModelRecord(_Record):
    """A checkpoint's meta.json as typed fields, in the order the file has always had them. `parse_record` is the
    one place that reads and checks one; `to_dict` writes the same JSON back."""

    format: str | None = None
    run_id: str | None = None
    created: str | None = None  # ISO time, local
    name: str | None = None  # display name; the folder keeps its run id
    architecture: str  # a models.MODELS key
    parameters: int | None = None
    config: TrainConfig = Field(default_factory=TrainConfig)
    dataset: DatasetRecord = DatasetRecord()
    normalisation: Normalisation | None = None
    metrics: MetricsRecord = MetricsRecord()
    history: list[Event] = []  # step and epoch events, thinned for the charts
    finetune: FinetuneRecord | None = None
    owner: OwnerRecord | None = None  # None: saved by the command line, or before models had owners

    @field_serializer("history")
    def _history(self, history: list[Event]) -> list[dict]:
        # fit_acc is only measured for a Learn lesson (train(score_train=True)): left out, a record reads as before
        return [{k: v for k, v in e.to_dict().items() if k != "fit_acc" or v is not None} for e in history]

    @model_validator(mode="before")
    @classmethod
    def _null_is_left_out(cls, data):
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value):
        if value not in MODELS:
            raise ValueError(value)
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _checked_config(cls, value):
        # TrainConfig has its own ranges, and the same messages for them as the CLI and the Train page give
        return TrainConfig.from_dict(value).validate() if isinstance(value, dict) else value

    def to_dict(self) -> dict:
        return self.model_dump()


# What a message calls the JSON type a field wanted, by pydantic's error type (in English: shown through _()).
_WANTED = {
    "model_type": N_("a JSON object"),
    "dataclass_type": N_("a JSON object"),
    "float_type": N_("a number"),
    "int_type": N_("a whole number"),
    "string_type": N_("a string"),
    "bool_type": N_("true or false"),
    "list_type": N_("a list"),
}


def _one_line(error: ValidationError, where: str) -> CheckpointError:
    """Pydantic's first complaint as one translated line that names the field, e.g. history[3].step."""
    first = error.errors(include_url=False)[0]
    loc, kind = first["loc"], first["type"]
    wanted = _WANTED.get(kind)
    if kind == "string_type" and loc and isinstance(loc[-1], int):  # the only list of strings: dataset.classes
        loc, wanted = loc[:-1], N_("a list of names")
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    if not loc:
        return CheckpointError(_("{where}: metadata is not a JSON object").format(where=where))
    if kind == "missing":
        return CheckpointError(_("{where}: metadata field {field} is missing").format(where=where, field=field))
    if loc == ("architecture",) and kind == "value_error":
        return CheckpointError(
            _("{where}: unknown architecture {name} (known: {known})").format(
                where=where, name=repr(first["input"]), known=", ".join(MODELS)
            )
        )
    if loc == ("config",) and kind == "value_error":
        return CheckpointError(
            _("{where}: invalid training config in metadata ({error})").format(where=where, error=first["ctx"]["error"])
        )
    if kind == "enum":  # one of a few words (an event's kind): name them
        choices = " | ".join(sorted(re.findall(r"'([^']*)'", first["ctx"]["expected"])))
        return CheckpointError(
            _("{where}: metadata field {field} should be {kind}").format(where=where, field=field, kind=choices)
        )
    if wanted is None:  # a JSON value no field of a record can hold (pydantic's own words are not translated)
        return CheckpointError(_("{where}: metadata field {field} is not valid").format(where=where, field=field))
    return CheckpointError(
        _("{where}: metadata field {field} should be {kind}").format(where=where, field=field, kind=_(wanted))
    )


def parse_record(meta, where: str) -> ModelRecord:
    """meta.json's content as a ModelRecord, or a one-line CheckpointError that starts with `where`.

    Pages and the CLI read these fields directly, so a hand-edited meta.json with the wrong types must be refused
    here rather than crash the models list later. It is checked as the JSON it is stored as: pydantic's strict JSON
    mode takes a JSON object for each record and for every history event.
    """
    try:
        return ModelRecord.model_validate_json(json.dumps(meta))
    except ValidationError as e:
        raise _one_line(e, where) from None


def default_name(record: ModelRecord) -> str:
    """A model's name until someone renames it: its architecture and score, in the reader's language (a run saves
    no name of its own, so a class reading in Chinese sees Chinese names)."""
    title = _(MODELS[record.architecture].title)
    accuracy = record.metrics.accuracy
    name = title if accuracy is None else _("{model} · {accuracy:.2%}").format(model=title, accuracy=accuracy)
    if record.metrics.cut_short:
        return name + _(" (cut short after epoch {epoch})").format(epoch=record.metrics.epochs_done)
    return name + (_(" (stopped)") if record.metrics.stopped else "")


@dataclass
class Checkpoint:
    path: Path
    record: ModelRecord  # shared with the listing's memory of it: read it, never change it

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def name(self) -> str:
        return self.record.name or default_name(self.record)

    @property
    def accuracy(self) -> float | None:
        return self.record.metrics.accuracy

    @property
    def config(self) -> TrainConfig:
        return replace(self.record.config)  # a copy: callers may validate (and so change) it

    @property
    def meta(self) -> dict:
        """The record as meta.json holds it (for exports, and for tests of the file format)."""
        return self.record.to_dict()


def default_models_dir() -> Path:
    return Path(os.environ.get("DIGIT_LAB_MODELS", REPO_ROOT / "models"))


def new_run_id(model_name: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{model_name}-{os.urandom(2).hex()}"


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".meta-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` and wait until it is on disk: after a power cut the renamed folder must not hold an empty file."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_folder(folder: Path) -> None:
    """Put a rename in `folder` on disk too; a system that cannot open folders (Windows) has no need to."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cpu_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(
    model: nn.Module, record: ModelRecord | dict, models_dir: str | Path | None = None, run_id: str | None = None
) -> Path:
    """Write model + record atomically as models_dir/<run_id>/ and return that folder.

    A dict is read as meta.json would be; either way it gets the same checks as loading, so nothing is saved
    that listing or loading would skip. The record's format, run id and (unless it has one) creation time are set here.
    """
    where = _("cannot save")
    record = parse_record(record if isinstance(record, dict) else record.to_dict(), where)
    tensors = _cpu_tensors(model)
    _check_tensors(tensors, record.architecture, where)  # never write what could not be loaded back
    return _write_checkpoint(save(tensors, metadata={"format": FORMAT}), record, models_dir, run_id)


def _write_checkpoint(weights: bytes, record: ModelRecord, models_dir: str | Path | None, run_id: str | None) -> Path:
    """The one place a checkpoint folder is written: in a hidden temporary folder, then renamed into place."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    run_id = run_id or new_run_id(record.architecture)
    created = record.created or time.strftime("%Y-%m-%dT%H:%M:%S")
    record = record.model_copy(update={"format": FORMAT, "run_id": run_id, "created": created})
    final = models_dir / run_id
    tmp = None
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise CheckpointError(_("a checkpoint named {name} already exists").format(name=run_id))
        tmp = Path(tempfile.mkdtemp(dir=models_dir, prefix=".saving-"))
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a checkpoint is an ordinary, shareable folder
        _write_synced(tmp / WEIGHTS, weights)
        _write_json_atomic(tmp / META, record.to_dict())
        os.replace(tmp, final)  # the one step that makes it visible
        _sync_folder(models_dir)
    except OSError as e:
        raise CheckpointError(
            _("could not save the checkpoint in {folder}: {error}").format(
                folder=models_dir, error=getattr(e, "strerror", None) or e
            )
        ) from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_record(path: str | Path) -> ModelRecord:
    """The checked record of the checkpoint folder `path`."""
    path = Path(path)
    try:
        return parse_record(json.loads((path / META).read_text()), path.name)
    except FileNotFoundError:
        raise CheckpointError(_("{path} is not a checkpoint: {file} is missing").format(path=path, file=META)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            _("{name}: {file} is damaged ({error})").format(name=path.name, file=META, error=e)
        ) from None


def _check_tensors(tensors: dict[str, torch.Tensor], arch: str, where: str, model: nn.Module | None = None) -> None:
    """Every tensor name and shape of `arch` present, nothing else; else a one-line CheckpointError."""
    expected = (model or build_model(arch)).state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            _("{where}: tensor names do not match {arch} (missing: {missing}; unexpected: {unexpected})").format(
                where=where, arch=arch, missing=", ".join(missing[:3]) or "-", unexpected=", ".join(extra[:3]) or "-"
            )
        )
    for key, value in expected.items():
        if tensors[key].shape != value.shape:
            raise CheckpointError(
                _("{where}: tensor {name} has shape {shape}, {arch} needs {needed}").format(
                    where=where, name=key, shape=tuple(tensors[key].shape), arch=arch, needed=tuple(value.shape)
                )
            )


def _model_from_tensors(tensors: dict[str, torch.Tensor], record: ModelRecord, where: str) -> nn.Module:
    model = build_model(record.architecture)
    _check_tensors(tensors, record.architecture, where, model)
    model.load_state_dict(tensors)
    return model.eval()


def load_checkpoint(path: str | Path) -> tuple[nn.Module, Checkpoint]:
    """The model (CPU, eval mode) and its record; never unpickles."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(_("no checkpoint folder at {path}").format(path=path))
    record = read_record(path)
    try:
        tensors = load_file(str(path / WEIGHTS))
    except FileNotFoundError:
        raise CheckpointError(_("{name}: {file} is missing").format(name=path.name, file=WEIGHTS)) from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            _("{name}: {file} is damaged or not a safetensors file ({error})").format(
                name=path.name, file=WEIGHTS, error=e
            )
        ) from None
    return _model_from_tensors(tensors, record, path.name), Checkpoint(path, record)


@functools.lru_cache(maxsize=512)
def _record_while_unchanged(path: str, inode: int, mtime_ns: int, size: int) -> ModelRecord:
    return read_record(path)


def _listed_record(path: Path) -> ModelRecord:
    """read_record, remembered while meta.json stays the same file with the same time and size (every write is
    a new file renamed into place). Every page rerun lists the models folder, and each meta.json holds a
    whole training history, too much to read and check again each time. The record is shared: never change it."""
    try:
        st = (path / META).stat()
    except OSError:
        return read_record(path)  # raises the CheckpointError that says what is wrong
    return _record_while_unchanged(str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def list_checkpoints(models_dir: str | Path | None = None) -> list[Checkpoint]:
    """Complete, readable checkpoints, newest first. Temporary and foreign folders are skipped."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    found = []
    if not models_dir.is_dir():
        return found
    for child in models_dir.iterdir():
        if child.name.startswith(".") or not child.is_dir() or not (child / WEIGHTS).is_file():
            continue
        try:
            found.append(Checkpoint(child, _listed_record(child)))
        except CheckpointError:
            continue
    return sorted(found, key=lambda c: (c.record.created or "", c.run_id), reverse=True)


def skipped_entries(models_dir: str | Path | None = None) -> list[str]:
    """Names in the models folder that are not usable checkpoints (for a note in the UI/CLI)."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    if not models_dir.is_dir():
        return []
    good = {c.run_id for c in list_checkpoints(models_dir)}
    return sorted(
        p.name
        for p in models_dir.iterdir()
        if not p.name.startswith(".") and p.name != "README.md" and p.name not in good
    )


def may_change(record: ModelRecord, by: Person | None) -> bool:
    """Whether `by` may rename or delete the model (owners.may_manage); None stands for the command line."""
    return by is None or may_manage(by, record.owner and record.owner.id)


def _check_may_manage(record: ModelRecord, by: Person | None, refusal: str) -> None:
    if not may_change(record, by):
        raise CheckpointError(refusal)


def delete_checkpoint(path: str | Path, by: Person | None = None) -> None:
    """Delete a saved model: `by`, when given, must be its maker or the host (owners.may_manage)."""
    path = Path(path)
    record = read_record(path)  # refuse to delete anything that is not one of ours
    _check_may_manage(record, by, _("only the person who made this model, or the teacher, can delete it"))
    # Rename first so a half-deleted folder is never listed as a checkpoint.
    trash = path.with_name(f".deleting-{path.name}-{os.urandom(3).hex()}")
    try:
        os.replace(path, trash)
    except OSError as e:
        raise CheckpointError(
            _("could not delete {name}: {error}").format(name=path.name, error=e.strerror or e)
        ) from None
    shutil.rmtree(trash, ignore_errors=True)


def rename_checkpoint(path: str | Path, name: str, by: Person | None = None) -> ModelRecord:
    """Give a checkpoint a display name (the folder keeps its run id); `by`, when given, must be its maker or the
    host (owners.may_manage)."""
    name = name.strip()
    if not name or len(name) > 80 or not re.fullmatch(r"[\w .,:()+\-]+", name):
        raise CheckpointError(_("a name needs 1-80 letters, digits, spaces or . , : ( ) + - _"))
    record = read_record(path)
    _check_may_manage(record, by, _("only the person who made this model, or the teacher, can rename it"))
    record = record.model_copy(update={"name": name})
    try:
        _write_json_atomic(Path(path) / META, record.to_dict())
    except OSError as e:
        raise CheckpointError(
            _("could not rename {name}: {error}").format(name=Path(path).name, error=e.strerror or e)
        ) from None
    return record


def export_checkpoint(path: str | Path) -> bytes:
    """One self-contained .safetensors file (weights + meta.json in its header) for download."""
    model, ckpt = load_checkpoint(path)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    return save(tensors, metadata={"format": FORMAT, _META_KEY: json.dumps(ckpt.record.to_dict())})


def _read_export(data: bytes, where: str) -> tuple[nn.Module, ModelRecord]:
    """The model and record of a file made by export_checkpoint; anything else (a pickle above all) is refused."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CheckpointError(
            _("file is larger than {mb} MB; not a Digit Lab checkpoint").format(mb=MAX_UPLOAD_BYTES // 2**20)
        )
    # A safetensors file is an 8-byte header length then "{"; that length's first byte may well be 0x80, a pickle's.
    if data[8:9] != b"{" and (data[:2] == b"PK" or data[:1] == b"\x80"):
        raise CheckpointError(
            _(
                "this is a PyTorch pickle (.pt/.pth) file; it was refused without being opened, "
                "because unpickling can run code. Upload a Digit Lab .safetensors export instead."
            )
        )
    try:
        header_len = int.from_bytes(data[:8], "little")
        if len(data) < 8 or header_len <= 0 or header_len > len(data) - 8:
            raise ValueError(_("truncated or not a safetensors file"))
        header = json.loads(data[8 : 8 + header_len])
        meta = json.loads((header.get("__metadata__") or {})[_META_KEY])
        tensors = st_load(data)
    except KeyError:
        raise CheckpointError(
            _("this safetensors file has no Digit Lab metadata; only Digit Lab exports can be uploaded")
        ) from None
    except (ValueError, SafetensorError, UnicodeDecodeError, AttributeError, TypeError, RecursionError) as e:
        raise CheckpointError(_("not a valid Digit Lab checkpoint file ({error})").format(error=str(e)[:120])) from None
    record = parse_record(meta, where)
    return _model_from_tensors(tensors, record, where), record


def import_checkpoint(data: bytes, models_dir: str | Path | None = None, owner: OwnerRecord | None = None) -> Path:
    """A user's upload, saved as a new model named "... (uploaded)" that belongs to `owner` (whoever uploaded it)."""
    model, record = _read_export(data, _("uploaded file"))
    name = _("{name} (uploaded)").format(name=record.name or default_name(record))[:80]
    update = {"name": name, "created": None, "owner": owner, "dataset": _without_paths(record.dataset)}
    return save_checkpoint(model, record.model_copy(update=update), models_dir)


def _without_paths(dataset: DatasetRecord) -> DatasetRecord:
    """An upload's dataset record with every folder path left out (its title stays, to read): a path names a folder
    of someone else's computer, and fine-tuning would make this server read it. The app's own datasets stay."""
    paths = {k: None for k in ("source", "eval_source") if getattr(dataset, k) and getattr(dataset, k) not in SOURCES}
    return dataset.model_copy(update=paths) if paths else dataset


@dataclass(frozen=True)
class PackedCheckpoint:
    """A checkpoint on its way between the app and a training worker: the two files its folder holds, as bytes and
    text, so the worker needs no shared filesystem and nothing is unpickled from it."""

    weights: bytes  # weights.safetensors
    meta: str  # meta.json


def pack(model: nn.Module, record: ModelRecord) -> PackedCheckpoint:
    """A model a worker made, serialised once, for the app to check and save (save_packed)."""
    weights = save(_cpu_tensors(model), metadata={"format": FORMAT})
    return PackedCheckpoint(weights, json.dumps(record.to_dict()))


def pack_folder(path: str | Path) -> PackedCheckpoint:
    """A saved model (a parent for a worker to fine-tune): its weights file as it is and its checked record, once
    load_checkpoint accepts them."""
    path = Path(path)
    _model, ckpt = load_checkpoint(path)  # refuses a damaged folder here, in the words loading uses
    record = ckpt.record.model_copy(update={"run_id": ckpt.record.run_id or ckpt.run_id})  # the fine-tune's parent
    return PackedCheckpoint((path / WEIGHTS).read_bytes(), json.dumps(record.to_dict()))


def _opened(packed: PackedCheckpoint, where: str) -> tuple[ModelRecord, dict[str, torch.Tensor]]:
    """The record and tensors of a packed checkpoint, checked as an upload is: JSON, types, names and shapes."""
    try:
        meta = json.loads(packed.meta)
        tensors = st_load(packed.weights)
    except (ValueError, SafetensorError, TypeError, RecursionError) as e:
        raise CheckpointError(_("not a valid Digit Lab checkpoint file ({error})").format(error=str(e)[:120])) from None
    record = parse_record(meta, where)
    _check_tensors(tensors, record.architecture, where)
    return record, tensors


def unpack(packed: PackedCheckpoint) -> tuple[nn.Module, ModelRecord]:
    """The model and record a worker was sent to fine-tune."""
    record, tensors = _opened(packed, _("received checkpoint"))
    model = build_model(record.architecture)
    model.load_state_dict(tensors)
    return model.eval(), record


def save_packed(
    packed: PackedCheckpoint, models_dir: str | Path | None = None, owner: OwnerRecord | None = None
) -> Path:
    """A model a worker made, checked and written as it came (its weights file byte for byte) as a new checkpoint
    that belongs to `owner` when one is given."""
    record, _tensors = _opened(packed, _("received checkpoint"))
    if owner is not None:
        record = record.model_copy(update={"owner": owner})
    return _write_checkpoint(packed.weights, record, models_dir, None)
