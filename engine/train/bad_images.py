"""Images that could not be read: which ones, why, and when there are too many to go on."""

from __future__ import annotations

from typing import Any

import torch

from engine.train.data import UNREADABLE, image_path, open_image

SHOWN = 5
"""How many bad files the log and the status name (the count covers them all)."""
FLOOR = 10
"""A job never fails for this many bad images or fewer, whatever the fraction."""


class BadImages:
    """The unreadable images a run has met (each counted once, across epochs and resumes)."""

    def __init__(self, total: int, max_fraction: float) -> None:
        self.total = total
        self.max_fraction = max_fraction
        self.paths: dict[str, str] = {}
        """path -> why it could not be read (for the first few; "" for the rest)."""

    def record(self, dataset: Any, y: torch.Tensor, index: Any) -> list[tuple[str, str]]:
        """Note the samples of a CPU batch whose target is UNREADABLE; return the new (path, why)."""
        if index is None or not bool((y == UNREADABLE).any()):
            return []
        new = []
        for i in index[y == UNREADABLE].tolist():
            path = image_path(dataset, int(i))
            if path not in self.paths:
                why = reason(path) if len(self.paths) < SHOWN else ""
                self.paths[path] = why
                new.append((path, why))
        return new

    @property
    def count(self) -> int:
        """How many distinct files could not be read."""
        return len(self.paths)

    def examples(self) -> list[str]:
        """Return the first few bad files, each with why."""
        return [f"{p} ({why})" if why else p for p, why in list(self.paths.items())[:SHOWN]]

    def too_many(self) -> str | None:
        """Return why the run must stop when more images are bad than allowed, else None."""
        limit = max(FLOOR, int(self.max_fraction * self.total))
        if self.count <= limit:
            return None
        return (f"{self.count} of {self.total} images could not be read (more than "
                f"max_bad_images = {self.max_fraction:g} allows); first: "
                f"{'; '.join(self.examples()[:3])}; fix or remove them, or raise max_bad_images")

    def state(self) -> list[str]:
        """Return the bad files for a checkpoint."""
        return list(self.paths)

    def load(self, paths: list[str] | None) -> None:
        """Continue counting from a checkpoint's bad files."""
        for path in paths or []:
            self.paths.setdefault(str(path), "")


def reason(path: str) -> str:
    """Return why `path` cannot be read, in a few words (re-opened once, only for named files)."""
    try:
        open_image(path)
    except Exception as error:  # the same failure the loader met
        # the entry already starts with the path: "it" keeps the reason within 120 characters
        first = str(error).splitlines()[0] if str(error) else ""
        text = first.replace(f"'{path}'", "it").replace(str(path), "it")[:120]
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return "it failed to load or transform"
