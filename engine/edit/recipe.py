"""Recipes: the TOML file of a model and its edits that rebuilds the model anywhere, identically."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import atomic_write_text
from engine.edit.ops import get_op
from engine.edit.recipe_paths import resolve_path, resolved_edit
from engine.errors import BadInput, PtmError, WorkFailed

if TYPE_CHECKING:
    from engine.edit.workbench import Workbench

MODEL_KEYS = ("name", "weights", "seed")
EDIT_KEYS: dict[str, tuple[str, ...]] = {
    "replace_head": ("num_classes", "target", "init"),
    "adapt_input": ("channels", "strategy", "target"),
    "init": ("target", "method", "params", "layer_type", "what"),
    "init_preset": ("target", "preset"),
    "freeze": ("target",),
    "unfreeze": ("target",),
    "replace": ("target", "module"),
    "insert_before": ("target", "module"),
    "insert_after": ("target", "module"),
    "delete": ("target",),
    "load_partial": ("source", "by_order"),
}
"""The keys each built-in op reads: any other key is a typo that would be silently ignored."""


def _unknown_keys(given: Any, known: tuple[str, ...]) -> str:
    """Return "a (did you mean b?), c" for the keys of `given` not in `known`, or ""."""
    import difflib

    shown = []
    for key in sorted(set(given) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        shown.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    return ", ".join(shown)


_TEXT_KEYS = {
    "target": '"fc" (a module path)',
    "module": '"GELU()"',
    "source": '"old.pth"',
    "method": '"xavier_normal"',
    "layer_type": '"Conv2d" (or "Conv2d,Linear")',
    "what": '"weight" (or "bias", "both")',
    "preset": '"common"',
    "strategy": '"repeat" (or "sum", "zero")',
    "init": '"default"',
}
"""Edit keys whose value must be text, with an example for the fix."""

_FIX = "see the recipe format in the README ([model] name/weights/seed, then [[edit]] tables)"


@dataclass
class Recipe:
    """A model (name, weights, seed), the edits to make to it, and optionally a [train] table."""

    model: dict[str, Any]
    edits: list[dict[str, Any]] = field(default_factory=list)
    train: dict[str, Any] | None = None
    path: Path | None = None
    slurm: dict[str, Any] | None = None
    """The [slurm] table: what a job asks of Slurm (engine.jobs.slurm.options)."""
    """Where the recipe was read from (relative sources are looked up beside it)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as the TOML document's data."""
        data: dict[str, Any] = {"model": dict(self.model), "edit": [dict(e) for e in self.edits]}
        if self.train is not None:
            data["train"] = dict(self.train)
        return data


# --- reading -----------------------------------------------------------------------------------


def from_dict(data: dict[str, Any], path: Path | None = None) -> Recipe:
    """Return the Recipe in parsed TOML data, after checking its tables and every edit."""
    where = f"recipe {str(path)!r}" if path else "the recipe"
    model = data.get("model")
    if not isinstance(model, dict):
        raise BadInput(
            f"{where} has no [model] table",
            "a recipe starts with the model to build",
            '[model]\nname = "resnet18"',
        )
    if not isinstance(model.get("name"), str) or not model["name"]:
        raise BadInput(f"{where} has no model name", '[model] needs name = "..."', _FIX)
    unknown = _unknown_keys(model, MODEL_KEYS)
    if unknown:
        raise BadInput(f"{where}: [model] has unknown keys {unknown}",
                       f"[model] takes {', '.join(MODEL_KEYS)}", "fix or remove those keys")
    model = {"name": model["name"], "weights": "none", "seed": 0, **model}  # the DESIGN.md order
    if not isinstance(model["weights"], str):
        raise BadInput(f"{where}: model.weights must be text", f"got {model['weights']!r}", _FIX)
    from engine.edit.init_methods import MAX_SEED

    if isinstance(model["seed"], bool) or not isinstance(model["seed"], int) \
            or not 0 <= model["seed"] <= MAX_SEED:
        raise BadInput(
            f"{where}: model.seed must be a whole number from 0 to {MAX_SEED}",
            f"got {model['seed']!r}", _FIX,
        )
    edits = data.get("edit", [])
    if not isinstance(edits, list) or not all(isinstance(e, dict) for e in edits):
        raise BadInput(f"{where}: `edit` must be a list of [[edit]] tables", f"got {edits!r}", _FIX)
    for index, edit in enumerate(edits, start=1):
        validate_edit(edit, index)
    train = data.get("train")
    if train is not None and not isinstance(train, dict):
        raise BadInput(f"{where}: `train` must be a table", f"got {train!r}", _FIX)
    slurm = data.get("slurm")
    if slurm is not None and not isinstance(slurm, dict):
        raise BadInput(f"{where}: `slurm` must be a table", f"got {slurm!r}", _FIX)
    unknown = sorted(set(data) - {"model", "edit", "train", "slurm"})
    if unknown:
        raise BadInput(
            f"{where} has unknown tables {', '.join(unknown)}",
            "a recipe has [model], [[edit]], [train] and [slurm]",
            _FIX,
        )
    return Recipe(model=model, edits=[dict(e) for e in edits], train=train, path=path, slurm=slurm)


def validate_edit(edit: dict[str, Any], index: int) -> None:
    """Check an edit's op, keys and argument types; raise BadInput naming edit `index` and op."""
    get_op(edit, index)
    op = edit["op"]

    def bad(why: str, fix: str) -> BadInput:
        return BadInput(f"edit {index} ({op}) is invalid", why, fix)

    unknown = _unknown_keys(edit, ("op", *EDIT_KEYS.get(op, tuple(edit))))
    if unknown:
        raise bad(f"unknown keys {unknown}",
                  f"{op} takes {', '.join(EDIT_KEYS[op])}; fix or remove the others")
    for key, example in _TEXT_KEYS.items():
        if key in edit and not isinstance(edit[key], str):
            raise bad(f"{key} must be text, got {edit[key]!r}", f"e.g. {key} = {example}")
    if "by_order" in edit and not isinstance(edit["by_order"], bool):
        raise bad(f"by_order must be true or false, got {edit['by_order']!r}", "e.g. by_order = true")
    if "params" in edit and not isinstance(edit["params"], dict):
        raise bad(f"params must be a table of named values, got {edit['params']!r}",
                  "e.g. params = { std = 0.01 }")
    if op == "init":
        from engine.edit.init_methods import resolve_params

        try:
            resolve_params(edit["method"], edit.get("params") or {})
        except BadInput as error:
            raise bad(error.message.split("\n")[0], error.fix) from None
    for key in ("num_classes", "channels"):
        if key in edit and (
            isinstance(edit[key], bool) or not isinstance(edit[key], int) or edit[key] < 1
        ):
            raise bad(
                f"{key} must be a whole number of at least 1, got {edit[key]!r}", f"e.g. {key} = 10"
            )
    if "module" in edit:
        from engine.edit.modexpr import parse_module

        if not isinstance(edit["module"], str):
            raise bad(f"module must be text, got {edit['module']!r}", 'e.g. module = "GELU()"')
        try:
            parse_module(edit["module"], device="meta")  # structure only: checking costs no memory
        except BadInput as error:
            raise bad(error.message.split("\n")[0], error.fix) from None
    if "source" in edit and not isinstance(edit["source"], str):
        raise bad(
            f"source must be a path or URL as text, got {edit['source']!r}", 'source = "old.pth"'
        )


def loads(text: str, path: Path | None = None) -> Recipe:
    """Return the Recipe in TOML `text`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        where = f"recipe {str(path)!r}" if path else "the recipe"
        raise BadInput(f"cannot read {where}", f"invalid TOML: {error}", _FIX) from error
    except RecursionError:  # tomllib recurses once per nested array or inline table
        where = f"recipe {str(path)!r}" if path else "the recipe"
        raise BadInput(f"cannot read {where}", "its arrays or tables are nested too deeply to read",
                       _FIX) from None
    return from_dict(data, path)


def load(path: str | os.PathLike[str]) -> Recipe:
    """Return the Recipe stored in the TOML file at `path`."""
    from engine.readfile import decode, read_bytes

    file = Path(path)
    try:
        text = decode(read_bytes(file, 16 << 20), str(path))  # bounded; a FIFO is refused
    except FileNotFoundError:
        raise BadInput(
            f"no recipe file {str(path)!r}",
            "the file does not exist",
            "give the path of a .toml recipe",
        ) from None
    except (OSError, ValueError) as error:
        raise BadInput(f"cannot read recipe {str(path)!r}", str(error), "check the file") from None
    return loads(text, file.resolve())


# --- writing -----------------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    """Return the TOML text of a value (dicts become inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, os.PathLike):
        return _string(os.fspath(value))
    raise BadInput(
        f"cannot write {value!r} in a recipe",
        f"{type(value).__name__} is not a TOML value",
        "use numbers, text, booleans, lists or tables",
    )


def _table(header: str, table: dict[str, Any]) -> list[str]:
    lines = [header]
    lines += [f"{_key(str(k))} = {_value(v)}" for k, v in table.items() if v is not None]
    return lines


def dumps(recipe: Recipe | dict[str, Any]) -> str:
    """Return a recipe (or its data) as TOML text that `loads` reads back to the same data."""
    data = recipe.to_dict() if isinstance(recipe, Recipe) else recipe
    blocks = [_table("[model]", data["model"])]
    blocks += [_table("[[edit]]", edit) for edit in data.get("edit", [])]
    if data.get("train") is not None:
        blocks.append(_table("[train]", data["train"]))
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def dump(recipe: Recipe | dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a recipe as TOML to `path` atomically; return the path."""
    from engine.outputs import writing

    text = dumps(recipe)
    with writing(path):
        atomic_write_text(path, text)
    return Path(path)


def save(
    workbench: Workbench, path: str | os.PathLike[str], train: dict[str, Any] | None = None
) -> Path:
    """Write the workbench's recipe (plus an optional [train] table) atomically; return the path."""
    data = workbench.recipe()
    return dump(Recipe(model=data["model"], edits=data["edit"], train=train), path)


# --- building ----------------------------------------------------------------------------------


STRUCTURAL = ("replace_head", "adapt_input", "replace", "insert_before", "insert_after", "delete")
"""Ops that change the model's structure: checked on a meta skeleton before any weights are read."""


def _apply_named(workbench: Workbench, edit: dict[str, Any], index: int) -> None:
    """Apply one edit; re-raise its error with "edit N (op): " in front."""
    try:
        workbench.apply(edit, index=index)
    except PtmError as error:
        if error.what.startswith(f"edit {index}"):
            raise
        kind = BadInput if error.exit_code == 2 else WorkFailed
        what = f"edit {index} ({edit.get('op')}): {error.what}"
        raise kind(what, error.why, error.fix) from error


def _skeleton(model: dict[str, Any]) -> Workbench | None:
    """Return a Workbench on the model's structure (meta, no weights read), or None when unsure."""
    from engine.edit.workbench import Workbench
    from engine.models import catalog, loader

    name, spec = model["name"], str(model.get("weights", "none"))
    try:
        info = catalog.model_info(name)
        default = catalog.resolve_weights(name, "default") if info.default_weights else None
        arch = (
            None if spec.lower() in ("none", "random", "") else catalog.resolve_weights(name, spec)
        )
        skeleton = catalog.build(name, "meta", weights=arch)
        size = loader.input_size_for(info, arch or default, skeleton)
    except Exception:  # a weights file or URL, a user model: the real build will tell
        return None
    return Workbench(model=skeleton, name=name, input_size=size)


def check_edits(recipe: Recipe, apply: tuple[str, ...] = STRUCTURAL) -> Workbench | None:
    """Check the edits on the model's structure (meta); raise BadInput naming the first bad one.
    Return that structure with the edits whose op is in `apply` made (None when it cannot be
    built on meta: a weights file or URL, a user's model)."""
    from engine.paths import get_module

    workbench = _skeleton(recipe.model)
    if workbench is None:
        return None
    for index, edit in enumerate(recipe.edits, start=1):
        if edit["op"] in apply:
            _apply_named(workbench, edit, index)
        elif isinstance(edit.get("target"), str):
            try:
                get_module(workbench.model, edit["target"])
            except PtmError as error:
                what = f"edit {index} ({edit['op']}): {error.what}"
                raise BadInput(what, error.why, error.fix) from None
    return workbench


def build(
    recipe: Recipe, device: str = "cpu", progress: Callable[[int, int | None], None] | None = None
) -> Workbench:
    """Return the Workbench of the recipe's model with its edits applied (errors name the edit)."""

    from engine.edit.workbench import Workbench

    check_edits(recipe)  # fail fast: before a download or a long load
    model = recipe.model
    base = recipe.path.parent if recipe.path else None
    workbench = Workbench.open(  # a random init of the model itself follows the seed too
        model["name"],
        weights=resolve_path(model.get("weights", "none"), base),
        device=device,
        progress=progress,
        seed=int(model.get("seed", 0)),
    )
    for index, edit in enumerate(recipe.edits, start=1):
        _apply_named(workbench, resolved_edit(edit, base), index)
    return workbench
