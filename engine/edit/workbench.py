"""The Workbench: one model, where it came from, and every edit made to it (with undo/redo)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.edit.freeze import count_params
from engine.edit.ops import Edit, get_op
from engine.edit.undo import (
    UndoRecord,
    copy_sharing_tensors,
    flags_of,
    set_flags,
    set_values,
    snapshot_bytes,
    storage_key,
    undo_budget_bytes,
    values_of,
)
from engine.errors import BadInput, PtmError, WorkFailed
from engine.paths import get_module, set_module


@dataclass
class Workbench:
    """Owns an nn.Module, where its weights came from, and the edits made to it.

    Every change goes through `apply`, so a failed edit leaves the model as it was,
    undo/redo restore exactly, and `recipe()` rebuilds the model anywhere.
    """

    model: nn.Module
    name: str
    weights: str = "none"
    """The weights as the user asked for them: "default", "none", an enum name, a path or a URL."""
    source: str = "random init"
    """Where the weights came from, in words: cached pretrained, downloaded, file, random init."""
    seed: int = 0
    input_size: tuple[int, ...] | None = None
    """The model's input size with batch 1 (e.g. (1, 3, 224, 224)), when known."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The weights' meta (categories, transforms...) when known."""
    opened_meaning: dict[str, Any] | None = None
    """What the weights it was opened with say they are (engine.models.weights.meaning)."""
    meanings: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)
    """What each weights file loaded into it says it is, by source (filled by load_partial)."""
    undo_budget: int = field(default_factory=undo_budget_bytes)
    """Bytes that undo copies may hold; older copies are let go past it (the newest is kept)."""
    _done: list[UndoRecord] = field(default_factory=list)
    _undone: list[UndoRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def open(cls, name: str, weights: str = "none", device: str = "cpu",
             progress: Callable[[int, int | None], None] | None = None, seed: int = 0,
             cancel: threading.Event | None = None, offline: bool = False) -> Workbench:
        """Open a model by name with the given weights and return its Workbench.

        A random init follows `seed`, so the recipe of this Workbench rebuilds the same weights;
        `offline` refuses weights that would have to be downloaded (engine.models.loader).
        """
        from engine.edit.recipe_paths import resolve_path
        from engine.models.loader import open_model

        weights = resolve_path(weights)  # a file is recorded absolute: the recipe works anywhere
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            opened = open_model(name, weights=weights, device=device, progress=progress,
                                cancel=cancel, offline=offline)
        return cls(model=opened.model, name=name, weights=weights, source=opened.source,
                   seed=seed, input_size=opened.input_size, meta=opened.meta,
                   opened_meaning=opened.meaning)

    # --- reading ---------------------------------------------------------------------------

    @property
    def edits(self) -> list[Edit]:
        """The edits in force, oldest first (a compound step's edits one by one, as in a recipe)."""
        return [edit for record in self._done for edit in record.edits]

    @property
    def history(self) -> list[tuple[Edit, str]]:
        """The steps in force with their one-line summaries, oldest first: one per key press
        (a compound step's edit carries its parts under "edits")."""
        return [(record.edit, record.summary) for record in self._done]

    @property
    def source_now(self) -> str:
        """Where the weights come from now, in words: the last weights file loaded, else `source`."""
        for edit in reversed(self.edits):
            if edit.get("op") == "load_partial":
                name = str(edit.get("source", "")).replace("\\", "/").rstrip("/").rpartition("/")[2]
                return f"loaded {name or edit.get('source')}"
        return self.source

    @property
    def meaning(self) -> dict[str, Any] | None:
        """What the weights in force say they are: the newest load's meaning (undo takes it
        back with the load), else the opened weights'; None when nothing says."""
        for edit in reversed(self.edits):
            if edit.get("op") == "load_partial":
                return self.meanings.get(str(edit.get("source")))
        return self.opened_meaning

    @property
    def busy(self) -> bool:
        """True while an edit, undo or redo is running (in another thread)."""
        return self._lock.locked()

    @property
    def redoable(self) -> int:
        """How many undone edits redo can bring back."""
        return len(self._undone)

    def undo_bytes(self) -> int:
        """Return the memory the undo and redo copies hold beyond the live model (as measured
        when each edit was applied: no pass over the model, so the explorer can show it)."""
        return sum(record.size for record in (*self._done, *self._undone))

    @property
    def undoable(self) -> int:
        """How many of the edits in force undo can still take back (newest first)."""
        count = 0
        for record in reversed(self._done):
            if record.dropped:
                break
            count += 1
        return count

    def counts(self) -> tuple[int, int]:
        """Return (total, trainable) parameter counts of the model."""
        return count_params(self.model)

    def recipe(self) -> dict[str, Any]:
        """Return the recipe (model table and edit list) that rebuilds this model."""
        return {"model": {"name": self.name, "weights": self.weights, "seed": self.seed},
                "edit": [dict(edit) for edit in self.edits]}

    # --- changing ----------------------------------------------------------------------------

    def replace_root(self, new: nn.Module) -> None:
        """Replace the whole model (for ops whose scope is the root)."""
        self.model = new

    @contextmanager
    def _one_at_a_time(self, what: str) -> Iterator[None]:
        """Run one change at a time: a second one (from another thread) is refused, not queued."""
        if not self._lock.acquire(blocking=False):
            raise BadInput(f"cannot {what} now: another edit is still being applied",
                           "edits to one model run one at a time", "wait for it, then try again")
        try:
            yield
        finally:
            self._lock.release()

    def apply(self, edit: Edit, index: int | None = None) -> str:
        """Apply one edit; on any failure restore the model exactly and re-raise. Return its summary."""
        with self._one_at_a_time(f"apply {edit.get('op')!r}"):
            record = self._apply(edit, index)
            self._record(record)
            return record.summary

    def apply_all(self, edits: list[Edit], summary: str = "") -> str:
        """Apply several edits as one step (one entry in the history, one undo); all or none.

        Edits that change nothing (a freeze of frozen layers) are left out. Return the step's
        summary (`summary`, else its parts' joined), or say that nothing changed.
        """
        with self._one_at_a_time("apply several edits"):
            parts: list[UndoRecord] = []
            try:
                for edit in edits:
                    part = self._apply(edit, None, seed_index=len(self.edits) + len(parts))
                    if part.changed_nothing():
                        self._restore(part)  # nothing to undo (flags only)
                    else:
                        parts.append(part)
            except Exception:
                for part in reversed(parts):
                    self._restore(part)
                raise
            if not parts:
                return "nothing changed: " + ", ".join(
                    f"{e.get('op')} {e.get('target', '')}".rstrip() for e in edits)
            if len(parts) == 1:
                self._record(parts[0])
                return parts[0].summary
            ops = {part.edit.get("op") for part in parts}
            step: Edit = {"op": ops.pop() if len(ops) == 1 else "edits",
                          "target": ", ".join(str(p.edit.get("target", "")) for p in parts),
                          "edits": [part.edit for part in parts]}
            record = UndoRecord(edit=step, path="", parts=parts,
                           summary=summary or "; ".join(part.summary for part in parts),
                           size=sum(part.size for part in parts))
            self._record(record)
            return record.summary

    def _record(self, record: UndoRecord) -> None:
        """Put an applied step in the history (redo's list is gone) within the undo budget."""
        self._done.append(record)
        self._undone.clear()
        self._keep_undo_in_budget()

    def _apply(self, edit: Edit, index: int | None, seed_index: int | None = None) -> UndoRecord:
        """Apply one edit and return its undo record (not yet in the history); on any failure
        restore the model exactly and re-raise."""
        op = get_op(edit, index)
        try:
            path = op.scope(self.model, edit)
            target = get_module(self.model, path)
        except PtmError:
            raise
        except Exception as error:  # e.g. target = 5 in a recipe
            raise BadInput(f"edit {edit.get('op')!r} cannot find the layer it works on",
                           f"{type(error).__name__}: {error}",
                           "give target as a module path such as \"layer1.0.conv1\" "
                           "(`ptm-tui inspect MODEL` lists them)") from error
        from engine.edit.recipe_paths import resolved_edit

        record = UndoRecord(edit=dict(resolved_edit(edit)), path=path)  # a file source: absolute
        if op.flags_only:
            record.flags = flags_of(target)
        elif op.values_only:
            record.values = values_of(target)
        elif op.keeps_tensors:
            record.module = copy_sharing_tensors(target)
        else:
            record.module = copy.deepcopy(target)
        before_root = self.model
        try:
            with torch.random.fork_rng(devices=[]):
                # seeded by the edit's place in the recipe, so a replay gives the same weights
                where = len(self.edits) if seed_index is None else seed_index
                torch.manual_seed(self.seed * 1_000_003 + where)
                record.summary = op.apply(self, record.edit)
            if op.check_shapes:
                from engine.edit.shapecheck import check_forward

                check_forward(self.model, self.input_size)
        except Exception as error:
            self.model = before_root
            self._restore(record)
            if isinstance(error, PtmError):
                raise
            raise WorkFailed(f"edit {edit.get('op')!r} failed", str(error),
                             "the model is unchanged; check the edit's arguments") from error
        self._measure(record)
        return record

    def _measure(self, record: UndoRecord) -> None:
        """Set record.size: what its copy holds beyond the live model (flags cost nothing)."""
        if record.parts is not None:
            for part in record.parts:
                self._measure(part)
            record.size = sum(part.size for part in record.parts)
            return
        if record.flags is not None:
            record.size = 0
            return
        live = {storage_key(t) for t in (*self.model.parameters(), *self.model.buffers())
                if t.device.type != "meta"}
        record.size = snapshot_bytes(record, live)

    def _keep_undo_in_budget(self) -> None:
        """Let go of the oldest undo copies until they fit the budget (the newest always stays).

        Undo walks back from the newest edit, so the edits before a dropped copy go with it;
        edits after the last copy that had to go (a freeze costs nothing) stay undoable.
        """
        total = sum(record.size for record in self._done)
        cut = -1
        for index, record in enumerate(self._done[:-1]):
            if total <= self.undo_budget:
                break
            if record.size:
                total -= record.size
                cut = index
        for record in self._done[:cut + 1]:
            if not record.dropped:
                record.drop()

    def _restore(self, record: UndoRecord, forward: bool = False) -> None:
        """Put back what `record` saved, keeping the current state in it (so undo/redo swap).

        A compound step's parts are put back newest first for undo, oldest first (`forward`)
        for redo.
        """
        if record.parts is not None:
            for part in (record.parts if forward else reversed(record.parts)):
                self._restore(part)
        elif record.flags is not None:
            current = [(p, p.requires_grad) for p, _ in record.flags]
            set_flags(record.flags)
            record.flags = current
        elif record.values is not None:
            target = get_module(self.model, record.path)
            current_values = values_of(target)
            set_values(target, record.values)
            record.values = current_values
        else:
            current_module = get_module(self.model, record.path)
            assert record.module is not None
            self.model = set_module(self.model, record.path, record.module)
            record.module = current_module

    def undo(self) -> Edit | None:
        """Undo the last edit and return it (None when there is nothing to undo).

        Raises BadInput when the edit's undo copy was let go to stay inside the budget.
        """
        with self._one_at_a_time("undo"):
            if not self._done:
                return None
            if self._done[-1].dropped:
                mib = self.undo_budget / 2**20
                raise BadInput(f"cannot undo {self._done[-1].edit.get('op')}: its undo copy was "
                               "let go", f"undo copies are kept within {mib:,.1f} MiB "
                               "(PTM_UNDO_MB) and older edits go first",
                               "raise PTM_UNDO_MB, or reopen the model and replay the recipe "
                               "without that edit")
            record = self._done[-1]
            self._restore(record)
            self._done.pop()
            self._undone.append(record)
            self._measure(record)  # it now holds the edited layer, which may be bigger
            return record.edit

    def redo(self) -> Edit | None:
        """Redo the last undone edit and return it (None when there is nothing to redo)."""
        with self._one_at_a_time("redo"):
            if not self._undone:
                return None
            record = self._undone[-1]
            self._restore(record, forward=True)
            self._undone.pop()
            self._done.append(record)
            self._measure(record)
            return record.edit

    def module(self, path: str) -> nn.Module:
        """Return the submodule at `path`."""
        return get_module(self.model, path)

