"""The two questions that keep edits: quit with unsaved edits, and restore an autosaved recipe."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.format import plural

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; height: auto; max-width: 100%; padding: 1 2;
                     border: thick $warning; background: $surface; }}
{name} Grid {{ height: auto; margin-top: 1; grid-size: 2; grid-rows: auto; grid-gutter: 0 1; }}
{name} Button {{ width: 100%; }}
"""


class ChoiceDialog(ModalScreen[str | None]):
    """A question with one button per answer (each with a key); escape answers None."""

    ANSWERS: ClassVar[list[tuple[str, str, str]]] = []
    """(answer, button label, button variant), the safe one first (it has the focus)."""

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """The question and its answers."""
        with Vertical():
            yield Static(Text(self.question))  # model names and paths: no markup
            with Grid():  # two answers a row: whole labels and keys at 60 columns too
                for answer, label, variant in self.ANSWERS:
                    yield Button(label, id=f"answer-{answer}", variant=variant)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        """The first answer is the default."""
        self.query(Button).first().focus()

    def action_answer(self, answer: str | None) -> None:
        """Close with `answer`."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("answer-") or None)


class UnsavedDialog(ChoiceDialog):
    """Quit with edits that are in no saved recipe or weights file: save, quit anyway, or stay."""

    DEFAULT_CSS = _CSS.format(name="UnsavedDialog")
    ANSWERS: ClassVar[list[tuple[str, str, str]]] = [
        ("cancel", "Cancel (n)", "primary"),
        ("recipe", "Save recipe (r)", "default"),
        ("weights", "Save weights (w)", "default"),
        ("quit", "Quit anyway (y)", "error"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,escape", "answer('cancel')", "Cancel", id="unsaved.cancel"),
        Binding("r", "answer('recipe')", "Save recipe", id="unsaved.recipe"),
        Binding("w", "answer('weights')", "Save weights", id="unsaved.weights"),
        Binding("y", "answer('quit')", "Quit anyway", id="unsaved.quit"),
    ]

    def __init__(self, model: str, edits: int) -> None:
        super().__init__(
            f"{model} has {plural(edits, 'edit')} that no saved recipe or weights file "
            "holds. They are autosaved: `ptm-tui --restore` (or opening the model "
            "again) offers them back."
        )


class RestoreDialog(ChoiceDialog):
    """An autosaved recipe of the model just opened: replay its edits, or start fresh."""

    DEFAULT_CSS = _CSS.format(name="RestoreDialog")
    ANSWERS: ClassVar[list[tuple[str, str, str]]] = [
        ("restore", "Restore (r)", "primary"),
        ("fresh", "Start fresh (f)", "default"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "answer('restore')", "Restore", id="restore.restore"),
        Binding("f", "answer('fresh')", "Start fresh", id="restore.fresh"),
        Binding("escape", "answer('later')", "Decide later", id="restore.later"),
    ]

    def __init__(self, model: str, edits: list[dict]) -> None:
        steps = "\n".join(
            f"  {i}. {e.get('op')} {e.get('target', '')}".rstrip() for i, e in enumerate(edits[:8], start=1)
        )
        more = f"\n  ... and {len(edits) - 8} more" if len(edits) > 8 else ""
        super().__init__(
            f"{model} has an autosaved recipe with {plural(len(edits), 'edit')} "
            f"(from a session that ended without saving):\n{steps}{more}\n"
            f"Restore {plural(len(edits), 'edit')}, or start fresh (drops them)?"
        )
        self.ANSWERS = [
            ("restore", f"Restore {plural(len(edits), 'edit')} (r)", "primary"),
            ("fresh", "Start fresh (f)", "default"),
        ]
