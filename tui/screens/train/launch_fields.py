"""The launch form's fields, in titled sections: which [train] key each writes, its label, its
hint, and how it reads back. The form (tui/screens/train/launch.py) is built from this table.

"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, Select

from tui.widgets.path_input import PathInput


@dataclass(frozen=True)
class Field:
    """One form field: the [train] key it writes (its widget id is launch-<key>)."""

    key: str
    label: str
    hint: str = ""
    """The placeholder: the value an empty field means."""
    help: str = ""
    """What the field does, shown while it has focus."""
    choices: tuple[str, ...] = ()
    """A choice list instead of a text field; the first is the default, which is not written."""
    path: bool = False
    """A path: Tab completes it."""
    switch: bool = False
    """Choices off/on, written as false/true."""
    train: bool = True
    """False: the form reads it itself (processes), it is no [train] key."""


SECTIONS: list[tuple[str, bool, list[Field]]] = [
    (
        "Data",
        False,
        [
            Field(
                "data",
                "data",
                "path/to/images",
                "an ImageFolder, a path,label .csv, a COCO .json (detection) or images/ + masks/ "
                "(segmentation)",
                path=True,
            ),
            Field(
                "val_data",
                "val data",
                "val/ or val split",
                "the validation set when it lives apart (a folder, .csv or COCO .json)",
                path=True,
            ),
            Field(
                "images",
                "COCO images",
                "the JSON's folder",
                "where a COCO JSON's file_name paths start",
                path=True,
            ),
            Field(
                "val_split",
                "val split",
                "0.2",
                "the fraction held out for validation when there is no val/ or val data",
            ),
            Field("image_size", "image size", "the weights'", "square input size (empty: the weights' own)"),
            Field("batch_size", "batch size", "32", "images per step"),
            Field(
                "class_balance",
                "class balance",
                help="none; weights: loss weights from the class counts; sampler: a balanced sampler",
                choices=("none", "weights", "sampler"),
            ),
        ],
    ),
    (
        "Model & freezing",
        True,
        [
            Field(
                "head_epochs",
                "head epochs",
                "0",
                "train only the head for this many epochs, then the rest (space in the explorer freezes)",
            ),
            Field(
                "head_lr", "head lr", "lr", "the head's lr; then lr is the backbone's (else backbone = lr/10)"
            ),
            Field(
                "layer_decay",
                "layer decay",
                "off",
                "lr x this per layer from the head down, as timm does for ViTs: a number in (0, 1]",
            ),
        ],
    ),
    (
        "Optimiser & schedule",
        False,
        [
            Field(
                "preset",
                "preset",
                help="quick: these fields; torchvision: the weights' own recipe fills the empty ones",
                choices=("quick", "torchvision"),
            ),
            Field(
                "optimizer", "optimizer", help="the optimizer", choices=("sgd", "adam", "adamw", "rmsprop")
            ),
            Field(
                "lr",
                "lr",
                "0.01",
                "the head's learning rate (the backbone's is lr/10 unless head lr "
                "is given); ctrl+f finds one",
            ),
            Field(
                "weight_decay", "weight decay", "0.0001", "L2 penalty on weights (not on norms and biases)"
            ),
            Field("momentum", "momentum", "0.9", "SGD and RMSprop momentum"),
            Field(
                "scheduler",
                "scheduler",
                help="how lr changes over the run (the plot shows it)",
                choices=("cosine", "none", "step", "onecycle"),
            ),
            Field("epochs", "epochs", "10", "passes over the training data"),
            Field(
                "warmup_epochs", "warmup epochs", "0", "epochs of linear warmup from lr x warmup decay to lr"
            ),
            Field("warmup_decay", "warmup decay", "0.01", "the warmup starts at lr x this"),
            Field("step_epochs", "step epochs", "epochs/3", "step scheduler: epochs between decays"),
            Field("gamma", "gamma", "0.1", "step scheduler: lr x this at each decay"),
            Field("accumulate_steps", "accumulate", "1", "batches whose gradients add up to one update"),
            Field("clip_grad_norm", "clip grad norm", "off", "clip the gradients' total norm to this"),
        ],
    ),
    (
        "Augmentation",
        True,
        [
            Field("augment", "augment", "none", "crop,flip,color (comma separated)"),
            Field(
                "auto_augment",
                "auto augment",
                help="an auto-augment policy per image: ra (RandAugment), ta_wide, augmix, imagenet",
                choices=("none", "ra", "ta_wide", "augmix", "imagenet"),
            ),
            Field(
                "random_erasing", "random erasing", "0", "probability of erasing a rectangle of each image"
            ),
            Field("mixup_alpha", "mixup alpha", "off", "MixUp of each batch with this Beta alpha"),
            Field("cutmix_alpha", "cutmix alpha", "off", "CutMix of each batch with this Beta alpha"),
        ],
    ),
    (
        "Regularisation",
        True,
        [
            Field("label_smoothing", "label smoothing", "0", "cross-entropy label smoothing, e.g. 0.1"),
            Field(
                "ema_decay",
                "EMA decay",
                "off",
                "keep an average of the weights (e.g. 0.9998); validation, checkpoints and export use it",
            ),
            Field("ema_steps", "EMA steps", "32", "updates between EMA updates"),
            Field(
                "early_stopping",
                "early stop",
                "off",
                "stop when the validation score has not improved for this many epochs",
            ),
        ],
    ),
    (
        "Run & device",
        True,
        [
            Field("device", "device", "auto", "auto, cpu, cuda or cuda:N"),
            Field(
                "amp",
                "AMP",
                help="mixed precision: auto (bf16 on a GPU that has it, fp32 elsewhere), bf16 or fp16 "
                "(with a grad scaler) on any device, or off",
                choices=("auto", "bf16", "fp16", "off"),
            ),
            Field(
                "compile",
                "compile",
                help="torch.compile the model (slow start, faster steps on GPUs)",
                switch=True,
                choices=("off", "on"),
            ),
            Field(
                "channels_last",
                "channels last",
                help="NHWC memory layout for the model and its batches (faster convolutions under "
                "bf16/fp16 on GPUs; the same results)",
                switch=True,
                choices=("off", "on"),
            ),
            Field("nproc", "processes", "1", "torchrun processes on this machine (1: none)", train=False),
            Field("workers", "loaders", "auto", "DataLoader worker processes (-1 or empty: auto)"),
        ],
    ),
]

FIELDS: dict[str, Field] = {f.key: f for _, _, section in SECTIONS for f in section}
"""Every field by its key."""


def section_id(key: str) -> str:
    """Return the widget id of the section holding `key`'s field."""
    return _section_id(next(title for title, _, section in SECTIONS for f in section if f.key == key))


def _section_id(title: str) -> str:
    return "section-" + "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def label_of(key: str) -> str:
    """Return the label the form gives `key` (the key in words when it has no field)."""
    field = FIELDS.get(key)
    return field.label if field else key.replace("_", " ")


def _shown(field: Field, value: Any) -> str:
    """Return a default value as its field shows it."""
    if value is None:
        return ""
    if field.switch:
        return "on" if value is True or str(value).lower() in ("on", "true", "1") else "off"
    if field.key == "amp" and isinstance(value, bool):
        return "auto" if value else "off"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def field_widget(field: Field, value: Any) -> Widget:
    """Return the input (or choice list) of `field` holding `value`."""
    shown = _start(field, {field.key: value})
    ident = f"launch-{field.key}"
    if field.choices:
        widget: Widget = Select(
            [(c, c) for c in field.choices], value=shown, allow_blank=False, compact=True, id=ident
        )
    else:
        kind = PathInput if field.path else Input
        widget = kind(shown, placeholder=field.hint, compact=True, id=ident)
    widget.tooltip = field.help or None
    return widget


def form_sections(defaults: dict[str, Any], extra: dict[str, list[Widget]]) -> Iterator[Widget]:
    """Yield the form's sections, each a collapsible titled box of labels and fields in two columns
    (and the `extra` widgets of its title at its end)."""
    for title, collapsed, section in SECTIONS:
        rows: list[Widget] = []
        pairs: list[Widget] = []
        for field in section:
            pairs += [Label(field.label, classes="field-label"), field_widget(field, defaults.get(field.key))]
            if field.key == "data":  # what the data holds, the form's width under it (launch_data.py)
                found = Label("", id="launch-found")
                found.display = False
                rows += [Grid(*pairs, classes="fields"), found]
                pairs = []
        rows.append(Grid(*pairs, classes="fields"))
        yield Collapsible(
            *rows, *extra.get(title, []), title=title, collapsed=collapsed, id=_section_id(title)
        )


def title_sections(screen: Any) -> None:
    """Title each section with how many of its fields differ from what the form opened with, so
    a closed section does not hide them: `Augmentation · 2 set`."""
    for title, _, section in SECTIONS:
        count = 0
        for field in section:
            value = screen.query_one(f"#launch-{field.key}").value.strip()
            count += value not in (_start(field, screen.defaults), field.hint)
        screen.query_one(f"#{_section_id(title)}").title = f"{title} · {count} set" if count else title


def _start(field: Field, defaults: dict[str, Any]) -> str:
    """Return the value `field` opens with."""
    shown = _shown(field, defaults.get(field.key))
    if field.choices and shown not in field.choices:
        return field.choices[0]
    return shown


def read_fields(screen: Any) -> dict[str, Any]:
    """Return the [train] table the form's fields describe: typed text as typed (the engine's
    config converts and checks it), choices other than the engine's default (the first) or given
    by the explorer, nothing for empty fields: what is left unset a preset may fill."""
    table: dict[str, Any] = {}
    for field in FIELDS.values():
        if not field.train:
            continue
        widget = screen.query_one(f"#launch-{field.key}")
        if field.choices:
            value = widget.value
            if field.key in screen.defaults or value != field.choices[0]:
                table[field.key] = (value == "on") if field.switch else value
        elif text := widget.value.strip():
            table[field.key] = text
    return table
