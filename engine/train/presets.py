"""[train] presets: "quick" (the defaults) and "torchvision" (the documented recipe that trained the
opened weights, scaled for finetuning), and where each resolved setting came from."""

from __future__ import annotations

from typing import Any

from engine.errors import BadInput
from engine.train.preset_table import NEW_RECIPE_ISSUE, PORTED, PORTED_MODELS, Recipe, find_recipe

PRESETS = ("quick", "torchvision")
LR_SCALE = 0.1
"""Finetuning's lr: a tenth of the from-scratch one the recipe documents."""
FINETUNE_EMA = {"ema_decay": 0.99, "ema_steps": 1}
SCALED_KEYS = ("lr", "warmup_epochs", "step_epochs", "gamma", "ema_decay", "ema_steps")
NOT_SET = ("epochs", "batch_size")
"""Documented, but your data and memory decide them; they scale the rest."""


def _refuse(model: dict[str, Any], why: str) -> BadInput:
    return BadInput(
        f'preset = "torchvision" cannot fill [train] for {model.get("name")} '
        f"(weights {model.get('weights', 'none')})",
        why,
        'use preset = "quick" (the defaults) and set the keys yourself',
    )


def weights_recipe(model: dict[str, Any]) -> tuple[str, Recipe]:
    """Return (the recipe link of the weights the recipe's model opens with, its documented recipe);
    raise BadInput saying why there is none (not torchvision's, no weights, not documented)."""
    from engine.models import catalog
    from engine.models.architecture import weights_entry

    name, weights = str(model.get("name", "")), str(model.get("weights", "none"))
    if catalog.is_user_spec(name) or name.startswith("timm/"):
        raise _refuse(model, "the preset reads torchvision's weights meta; this is not a torchvision model")
    try:
        entry = weights_entry(name, weights)
    except BadInput as error:
        raise _refuse(model, error.message) from None
    if entry is None:
        raise _refuse(model, "these weights (random init, a file or a URL) carry no torchvision recipe link")
    meta = catalog.weights_enum(name, entry).meta
    url = str(meta.get("recipe") or "")
    why = PORTED_MODELS.get(name) or PORTED.get(url)
    if not why and url.startswith(NEW_RECIPE_ISSUE) and "modified version" in str(meta.get("_docs", "")):
        why = "trained with a modified version of torchvision's new recipe, whose settings are not listed"
    if why:
        raise _refuse(model, f"torchvision documents no training recipe for {entry.name}: {why}")
    recipe = find_recipe(url, name)
    if recipe is None:
        raise _refuse(
            model,
            f"{entry.name} links the recipe {url or '(none)'}, which the preset table "
            "(torchvision's references/classification README) does not hold",
        )
    return url, recipe


def _fraction(epochs: int, part: int, of: int) -> int:
    """Return `part` of `of` epochs as the same fraction of `epochs`, at least 1."""
    return max(1, round(epochs * part / of))


def scaled(recipe: Recipe, epochs: int) -> dict[str, tuple[Any, Any]]:
    """Return {key: (value for a finetune of `epochs`, the documented value)} of a recipe."""
    doc = recipe.documented()
    out: dict[str, tuple[Any, Any]] = {
        key: (value, value) for key, value in doc.items() if key not in NOT_SET and key not in SCALED_KEYS
    }
    out["lr"] = (float(f"{doc['lr'] * LR_SCALE:.6g}"), doc["lr"])
    if doc.get("warmup_epochs"):
        out["warmup_epochs"] = (
            min(epochs, _fraction(epochs, doc["warmup_epochs"], doc["epochs"])),
            doc["warmup_epochs"],
        )
    if doc["scheduler"] == "step":
        step = _fraction(epochs, doc["step_epochs"], doc["epochs"])
        decays = (doc["epochs"] / doc["step_epochs"]) / (epochs / step)
        out["step_epochs"] = (step, doc["step_epochs"])
        out["gamma"] = (float(f"{doc['gamma'] ** decays:.4g}"), doc["gamma"])
    if "ema_decay" in doc:
        for key, value in FINETUNE_EMA.items():
            out[key] = (value, doc[key])
    return out


def with_preset(
    merged: dict[str, Any], model: dict[str, Any], default_epochs: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return `merged` ([train] with flags on top) with the preset's values for the keys it leaves
    unset, and {key: where the value came from} for the preset's keys."""
    preset = merged.get("preset", "quick")
    if preset != "torchvision":
        return merged, {}
    _url, recipe = weights_recipe(model)
    epochs = merged.get("epochs", default_epochs)
    try:
        epochs = max(1, int(epochs))
    except (TypeError, ValueError):
        epochs = default_epochs  # the config check names the bad value
    filled = dict(merged)
    sources = {}
    for key, (value, documented) in scaled(recipe, epochs).items():
        if key in merged:
            continue
        filled[key] = value
        note = "" if value == documented else f", scaled from {documented:g}"
        sources[key] = f"preset torchvision ({recipe.name} recipe{note})"
    return filled, sources
