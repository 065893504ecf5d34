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
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import load_file, save, save_file
from torch import nn

from mnist_core.data.sources import REPO_ROOT
from mnist_core.i18n import N_, _
from mnist_core.learning.config import ConfigError, TrainConfig
from mnist_core.learning.events import Event
from mnist_core.learning.models import MODELS, build_model
from mnist_core.store.owners import Person, may_manage

WEIGHTS, META = "weights.safetensors", "meta.json"
FORMAT = "digit-lab-checkpoint/1"
_META_KEY = "digit_lab"  # where an exported single file keeps meta.json in its safetensors header
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class CheckpointError(Exception):
    """A checkpoint that cannot be saved or used; the message says why in one line."""


@dataclass(frozen=True)
class DatasetRecord:
    """What a model was trained on (meta.json's "dataset"); a field missing from the file is None."""

    source: str | None = None  # a data.SOURCES key or a folder path
    title: str | None = None
    split: str | None = None  # "train" or "all"
    n_train: int | None = None
    evaluated_on: str | None = None  # the held-out split its accuracy was measured on, in words
    eval_source: str | None = None  # where that held-out split came from, when not from `source` itself
    eval_split: str | None = None
    seed: int | None = None  # the seed that carved a held-out share, when there was no test split
    classes: list[str] | None = None
    extra: dict = field(default_factory=dict, repr=False)  # fields this version does not know, written back as read

    @property
    def label(self) -> str:
        return self.title or self.source or "?"


@dataclass(frozen=True)
class MetricsRecord:
    """How the run went (meta.json's "metrics"); a field missing from the file is None."""

    accuracy: float | None = None  # on the held-out set named by DatasetRecord.evaluated_on
    loss: float | None = None
    n: int | None = None  # held-out images scored
    seconds: float | None = None  # training time
    images_per_s: float | None = None
    device: str | None = None
    stopped: bool | None = None  # ended early by Stop (or a server shutdown)
    epochs_done: int | None = None
    extra: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class FinetuneRecord:
    """A model fine-tuned from another (meta.json's "finetune"): its parent and accuracy before and after."""

    parent: str  # the run id of the model it started from
    personal_source: str | None = None  # the collection (a folder) it learned from
    personal: str | None = None  # the personal held-out images, in words
    personal_before: float | None = None
    personal_after: float | None = None
    reference: str | None = None  # the parent's own kind of held-out images, in words
    reference_before: float | None = None
    reference_after: float | None = None
    extra: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class OwnerRecord:
    """Who made a model (meta.json's "owner"): their browser's id (owners.browser_id) and the name they typed."""

    id: str = ""
    name: str = ""
    extra: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Normalisation:
    mean: float | None = None
    std: float | None = None
    extra: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """A checkpoint's meta.json as typed fields. `parse_record` is the one place that reads and checks one;
    `to_dict` writes the same JSON back (the keys a checkpoint has always had, plus whatever it held that this
    version does not know)."""

    architecture: str  # a models.MODELS key
    config: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None  # display name; the folder keeps its run id
    run_id: str | None = None
    created: str | None = None  # ISO time, local
    format: str | None = None
    parameters: int | None = None
    dataset: DatasetRecord = field(default_factory=DatasetRecord)
    normalisation: Normalisation | None = None
    metrics: MetricsRecord = field(default_factory=MetricsRecord)
    history: list[Event] = field(default_factory=list)  # step and epoch events, thinned for the charts
    finetune: FinetuneRecord | None = None
    owner: OwnerRecord | None = None  # None: saved by the command line, or before models had owners
    extra: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        meta = {
            "format": self.format,
            "run_id": self.run_id,
            "created": self.created,
            "name": self.name,
            "architecture": self.architecture,
            "parameters": self.parameters,
            "config": self.config.to_dict(),
            "dataset": _json_fields(self.dataset),
            "normalisation": self.normalisation and _json_fields(self.normalisation),
            "metrics": _json_fields(self.metrics),
            "history": [e.to_dict() for e in self.history],
            "finetune": self.finetune and _json_fields(self.finetune),
            "owner": self.owner and _json_fields(self.owner),
            **self.extra,
        }
        return {k: v for k, v in meta.items() if v is not None}


def _json_fields(record) -> dict:
    return {
        **{
            f.name: getattr(record, f.name)
            for f in fields(record)
            if f.name != "extra" and getattr(record, f.name) is not None
        },
        **record.extra,
    }


@functools.cache
def _schema(cls) -> dict[str, tuple[tuple[type, ...], bool, bool, str, frozenset | None]]:
    """field name -> (JSON types allowed, may be null, required, how a message names the type, the only texts
    allowed or None), read from the dataclass's own annotations."""
    schema = {}
    for f in fields(cls):
        if f.name == "extra":
            continue
        hint = typing.get_type_hints(cls)[f.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = [a for a in typing.get_args(hint) if a is not type(None)] if union else [hint]
        base = typing.get_origin(args[0]) or args[0]
        choices = frozenset(base) if isinstance(base, type) and issubclass(base, StrEnum) else None
        if choices is not None:  # text that names one of a few things (an Event's kind): the names, as written
            base = str
        allowed, words = {  # words in English (this is cached): messages translate them with _()
            float: ((int, float), N_("a number")),
            int: ((int, float), N_("a number")),
            str: ((str,), N_("a string")),
            bool: ((bool,), N_("true or false")),
            list: ((list,), N_("a list of names")),
        }[base]
        words = " | ".join(sorted(choices)) if choices else words
        required = f.default is MISSING and f.default_factory is MISSING
        schema[f.name] = (allowed, union and type(None) in typing.get_args(hint), required, words, choices)
    return schema


def _typed(cls, data, where: str, label: str):
    """`cls` built from a JSON object, each known field checked against its annotation (a list must hold
    strings); unknown fields are kept aside in `extra` when `cls` has one."""
    if not isinstance(data, dict):
        raise CheckpointError(
            _("{where}: metadata field {field} should be {kind}").format(
                where=where, field=label, kind=_("a JSON object")
            )
        )
    schema, known, extra = _schema(cls), {}, {}
    for key, value in data.items():
        if key not in schema:
            extra[key] = value
            continue
        allowed, nullable, _required, words, choices = schema[key]
        wrong = (
            not nullable
            if value is None
            else isinstance(value, bool)
            and bool not in allowed
            or not isinstance(value, allowed)
            or isinstance(value, list)
            and not all(isinstance(v, str) for v in value)
            or choices is not None
            and value not in choices
        )
        if wrong:
            raise CheckpointError(
                _("{where}: metadata field {field} should be {kind}").format(
                    where=where, field=f"{label}.{key}", kind=_(words)
                )
            )
        known[key] = value
    for key, (_allowed, _nullable, required, words, _choices) in schema.items():
        if required and key not in known:
            raise CheckpointError(
                _("{where}: metadata field {field} is missing (it should be {kind})").format(
                    where=where, field=f"{label}.{key}", kind=_(words)
                )
            )
    return cls(**known, extra=extra) if "extra" in cls.__dataclass_fields__ else cls(**known)


def parse_record(meta, where: str) -> ModelRecord:
    """meta.json's content as a ModelRecord, or a one-line CheckpointError that starts with `where`.

    Pages and the CLI read these fields directly, so a hand-edited meta.json with the wrong types must be refused
    here rather than crash the models list later.
    """
    if not isinstance(meta, dict):
        raise CheckpointError(_("{where}: metadata is not a JSON object").format(where=where))
    arch = meta.get("architecture")
    if arch not in MODELS:
        raise CheckpointError(
            _("{where}: unknown architecture {name} (known: {known})").format(
                where=where, name=repr(arch), known=", ".join(MODELS)
            )
        )
    for key, kind in (
        ("config", dict),
        ("metrics", dict),
        ("dataset", dict),
        ("normalisation", dict),
        ("history", list),
        ("finetune", dict),
        ("owner", dict),
        ("name", str),
        ("created", str),
        ("run_id", str),
        ("format", str),
    ):
        if meta.get(key) is not None and not isinstance(meta[key], kind):
            raise CheckpointError(
                _("{where}: metadata field {field} should be {kind}").format(
                    where=where,
                    field=repr(key),
                    kind=_("a JSON object") if kind is dict else _("a {type}").format(type=kind.__name__),
                )
            )
    parameters = meta.get("parameters")
    if parameters is not None and (isinstance(parameters, bool) or not isinstance(parameters, int)):
        raise CheckpointError(
            _("{where}: metadata field {field} should be {kind}").format(
                where=where, field="'parameters'", kind=_("a whole number")
            )
        )
    metrics = _typed(MetricsRecord, meta.get("metrics") or {}, where, "metrics")
    dataset = _typed(DatasetRecord, meta.get("dataset") or {}, where, "dataset")
    normalisation = (
        None
        if meta.get("normalisation") is None
        else _typed(Normalisation, meta["normalisation"], where, "normalisation")
    )
    history = [_typed(Event, h, where, f"history[{i}]") for i, h in enumerate(meta.get("history") or [])]
    finetune = None if meta.get("finetune") is None else _typed(FinetuneRecord, meta["finetune"], where, "finetune")
    owner = None if meta.get("owner") is None else _typed(OwnerRecord, meta["owner"], where, "owner")
    try:
        config = TrainConfig.from_dict(meta.get("config") or {}).validate()
    except (ConfigError, TypeError) as e:
        raise CheckpointError(
            _("{where}: invalid training config in metadata ({error})").format(where=where, error=e)
        ) from None
    known = {f.name for f in fields(ModelRecord)}
    return ModelRecord(
        architecture=arch,
        config=config,
        name=meta.get("name"),
        run_id=meta.get("run_id"),
        created=meta.get("created"),
        format=meta.get("format"),
        parameters=parameters,
        dataset=dataset,
        normalisation=normalisation,
        metrics=metrics,
        history=history,
        finetune=finetune,
        owner=owner,
        extra={k: v for k, v in meta.items() if k not in known},
    )


def default_name(record: ModelRecord) -> str:
    """A model's name until someone renames it: its architecture and score, in the reader's language (a run saves
    no name of its own, so a class reading in Chinese sees Chinese names)."""
    title = _(MODELS[record.architecture].title)
    accuracy = record.metrics.accuracy
    name = title if accuracy is None else _("{model} · {accuracy:.2%}").format(model=title, accuracy=accuracy)
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


def save_checkpoint(
    model: nn.Module, record: ModelRecord | dict, models_dir: str | Path | None = None, run_id: str | None = None
) -> Path:
    """Write model + record atomically as models_dir/<run_id>/ and return that folder.

    A dict is read as meta.json would be; either way it gets the same checks as loading, so nothing is saved
    that listing or loading would skip. The record's format, run id and (unless it has one) creation time are set here.
    """
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    where = _("cannot save")
    if isinstance(record, dict):
        record = parse_record(record, where)
    else:
        record = parse_record(record.to_dict(), where)
    run_id = run_id or new_run_id(record.architecture)
    record = replace(record, format=FORMAT, run_id=run_id, created=record.created or time.strftime("%Y-%m-%dT%H:%M:%S"))
    final = models_dir / run_id
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _check_tensors(tensors, record.architecture, where)  # never write what could not be loaded back
    tmp = None
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise CheckpointError(_("a checkpoint named {name} already exists").format(name=run_id))
        tmp = Path(tempfile.mkdtemp(dir=models_dir, prefix=".saving-"))
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a checkpoint is an ordinary, shareable folder
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        _write_json_atomic(tmp / META, record.to_dict())
        os.replace(tmp, final)  # the one step that makes it visible
    except (OSError, SafetensorError) as e:  # safetensors reports a full disk as SafetensorError, not OSError
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
    record = replace(record, name=name)
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
    return save_checkpoint(model, replace(record, name=name, created=None, owner=owner), models_dir)


def receive_checkpoint(data: bytes, models_dir: str | Path | None = None, owner: OwnerRecord | None = None) -> Path:
    """A model a training worker made (or the app sends one to fine-tune), saved as it is: same run id, name and
    creation time, and, given an `owner`, theirs. Written atomically, like every save."""
    model, record = _read_export(data, _("received checkpoint"))
    if owner is not None:
        record = replace(record, owner=owner)
    return save_checkpoint(model, record, models_dir, run_id=record.run_id)
