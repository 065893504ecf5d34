"""What a saved model says about itself (meta.json): typed records that pydantic checks strictly, and one
translated line naming the field when a file is wrong. Nothing here touches files: checkpoints.py stores them."""

from __future__ import annotations

import json
import re

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

from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event
from mnist_core.learning.models import MODELS

FORMAT = "digit-lab-checkpoint/1"


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
