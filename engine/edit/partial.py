"""Load a state dict into a changed model: matching tensors load, the rest is reported by name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.words import plural

PREFIXES = ("module.", "_orig_mod.")


@dataclass
class LoadReport:
    """What a partial load did: keys matched, missing, unexpected and shape-mismatched."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Model keys the checkpoint did not provide (they keep their current values)."""
    unexpected: list[str] = field(default_factory=list)
    """Checkpoint keys the model has no place for."""
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    """(key, checkpoint shape, model shape) for keys skipped because the shapes differ."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Model key -> checkpoint key, for tensors mapped by order and shape."""
    warnings: list[str] = field(default_factory=list)
    meaning: dict[str, Any] | None = None
    """What the file says the weights are (recipe, class names, preprocessing), when it says."""

    def counts(self) -> dict[str, int]:
        """Return the number of keys in each group."""
        return {
            "matched": len(self.matched),
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "mismatched": len(self.mismatched),
        }

    def summary(self) -> str:
        """Return the report in one line."""
        c = self.counts()
        text = (
            f"loaded {plural(c['matched'], 'tensor')}; {c['missing']} missing, {c['unexpected']} unexpected, "
            f"{c['mismatched']} shape-mismatched"
        )
        if self.renamed:
            text += f" ({len(self.renamed)} mapped by order)"
        return text

    def rows(self) -> list[tuple[str, str, str, str]]:
        """Return (status, key, checkpoint shape, model shape) rows for a table, problems first."""
        rows = [("mismatched", key, str(list(a)), str(list(b))) for key, a, b in self.mismatched]
        rows += [("missing", key, "", "") for key in self.missing]
        rows += [("unexpected", key, "", "") for key in self.unexpected]
        rows += [("matched", key, self.renamed.get(key, ""), "") for key in self.matched]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data (for JSON)."""
        return {
            "counts": self.counts(),
            "matched": self.matched,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "mismatched": [
                {"key": k, "checkpoint": list(a), "model": list(b)} for k, a, b in self.mismatched
            ],
            "renamed": self.renamed,
            "warnings": self.warnings,
        }


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return the state dict minus `module.` (DataParallel) and `_orig_mod.` (compile) prefixes."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


def _by_name(
    state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], report: LoadReport
) -> dict[str, torch.Tensor]:
    load: dict[str, torch.Tensor] = {}
    for key, tensor in own.items():
        if key not in state:
            report.missing.append(key)
        elif tuple(state[key].shape) != tuple(tensor.shape):
            report.mismatched.append((key, tuple(state[key].shape), tuple(tensor.shape)))
        else:
            load[key] = state[key]
            report.matched.append(key)
    report.unexpected = [key for key in state if key not in own]
    return load


def _by_order(
    state: dict[str, torch.Tensor],
    own: dict[str, torch.Tensor],
    report: LoadReport,
    load: dict[str, torch.Tensor],
) -> None:
    """Map the keys left over after name matching pairwise, in order, when their shapes agree."""
    mism = {k for k, _, _ in report.mismatched}
    model_left = [k for k in own if k not in load]
    ckpt_left = [k for k in state if k not in load or k in mism]
    if not model_left or not ckpt_left:
        return
    report.missing, report.unexpected, report.mismatched = [], [], []
    for model_key, ckpt_key in zip(model_left, ckpt_left):
        a, b = tuple(state[ckpt_key].shape), tuple(own[model_key].shape)
        if a == b:
            load[model_key] = state[ckpt_key]
            report.matched.append(model_key)
            if model_key != ckpt_key:
                report.renamed[model_key] = ckpt_key
        else:
            report.mismatched.append((model_key, a, b))
    report.missing = model_left[len(ckpt_left) :]
    report.unexpected = ckpt_left[len(model_left) :]
    if report.renamed:
        report.warnings.append(
            f"{len(report.renamed)} tensors were mapped by order and shape, not by name: "
            "check that the layers really correspond"
        )


def load_partial(
    model: nn.Module,
    state_dict_or_source: dict[str, torch.Tensor] | str | os.PathLike[str],
    by_order: bool = False,
) -> LoadReport:
    """Load the tensors whose name and shape match into `model`; return a LoadReport (with the
    meaning a weights file carries: engine.models.weights.meaning)."""
    report = LoadReport()
    if isinstance(state_dict_or_source, dict):
        state = state_dict_or_source
    else:  # read safely, never unpickling code
        from engine.models.weights import read_weights

        state, report.meaning = read_weights(os.fspath(state_dict_or_source), map_location="cpu")
    state = strip_prefixes({k: v for k, v in state.items() if isinstance(v, torch.Tensor)})
    own = model.state_dict()
    load = _by_name(state, own, report)
    if by_order:
        _by_order(state, own, report, load)
    if not load:
        report.warnings.append("nothing was loaded: no key matched by name and shape")
    on_meta = any(t.is_meta for t in own.values())
    with torch.no_grad():
        model.load_state_dict(load, strict=False, assign=on_meta)
    return report
