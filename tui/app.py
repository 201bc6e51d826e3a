"""The Textual app: `ptm-tui` opens the catalog, `ptm-tui MODEL` the explorer (torch later)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui.format import ASCII, UNICODE, Glyphs
from tui.guard import ErrorReporter, GuardedDispatch
from tui.keymap import key_table, load_keymap
from tui.quitting import exit_now, use_no_wait_executor


class PtmApp(GuardedDispatch, App[int]):
    """The ptm-tui app. Heavy work (torch, models, stats) runs in workers; the UI never waits."""

    CSS_PATH = "app.tcss"
    TITLE = "ptm-tui"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    """Screens narrower than 110 columns get the class -narrow (app.tcss stacks panels there)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, id="app.palette"),
    ]

    def __init__(self, model: str | None = None, weights: str = "default", *,
                 ascii_only: bool = False, light: bool = False, device: str = "cpu",
                 workbench: object | None = None, trust_code: bool = False) -> None:
        super().__init__()
        self.trust_code = trust_code
        """--trust-code: a file or job folder may name the code that builds its model."""
        self.model_name = model
        self.weights = weights
        self.device = device
        self.ascii_only = ascii_only
        self.light = light
        self.glyphs: Glyphs = ASCII if ascii_only else UNICODE
        self._workbench = workbench
        self.error_reporter = ErrorReporter()
        """Errors of handlers, actions and renders: shown and logged, the app keeps running."""
        self.theme = "textual-light" if light else "textual-dark"
        if ascii_only:
            _use_ascii_scrollbars()
        keymap, self._keymap_problem = load_keymap()
        self._keymap = keymap
        if keymap:
            self.set_keymap(keymap)

    def on_mount(self) -> None:
        """Show the explorer when a model was named, else the catalog."""
        use_no_wait_executor()  # q never waits for a worker's thrown-away work
        if self.ascii_only:
            self.add_class("-ascii")
        if self._keymap_problem:
            self.notify(self._keymap_problem, severity="warning", timeout=10)
        if self._keymap:
            self.run_worker(self._check_keymap_ids, thread=True, group="keymap")
        if self.model_name or self._workbench is not None:
            self.open_explorer(self.model_name or "", self.weights, workbench=self._workbench)
        else:
            from tui.screens.catalog.catalog import CatalogScreen

            self.push_screen(CatalogScreen())

    def _check_keymap_ids(self) -> None:
        """Warn about keymap ids that match no key (a typo would otherwise do nothing, silently)."""
        from tui.keymap import unknown_ids_message

        message = unknown_ids_message(self._keymap, type(self))
        if message:
            self.call_from_thread(self.notify, message, severity="warning", timeout=15, markup=False)

    def _handle_exception(self, error: Exception) -> None:
        """Report an error Textual would end the app for (a render, a widget's handler) and keep
        running; before the first screen is up (nothing to show it on) end as Textual does."""
        if self.is_running and len(self.screen_stack) > 1:
            self.error_reporter.report(self, error, "the screen")
            return
        super()._handle_exception(error)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Show a toast as plain text: messages carry paths, file contents and user input, whose
        brackets must not be read as markup (`markup` is accepted and ignored)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def open_explorer(self, model: str, weights: str = "default",
                      workbench: object | None = None, offline: bool = False) -> None:
        """Push the explorer on `model` (or on an already open workbench); `offline` downloads
        nothing (weights not on this machine show the "no weights" panel)."""
        from tui.screens.explore.explorer import ExplorerScreen

        self.push_screen(ExplorerScreen(model, weights, device=self.device, workbench=workbench,
                                        offline=offline))

    async def action_quit(self) -> None:
        """Quit (q, ctrl+q), asking first when an open model has edits that are not saved."""
        self.quit_asking()

    def quit_asking(self) -> None:
        """Quit now, or ask (save recipe / save weights / quit anyway / cancel) when an explorer
        has unsaved edits; the edits stay autosaved whatever the answer."""
        from tui.screens.edit.unsaved import UnsavedDialog

        if isinstance(self.screen, UnsavedDialog):
            return
        explorers = [s for s in self.screen_stack if hasattr(s, "unsaved_edits")]
        unsaved = next((s for s in reversed(explorers) if s.unsaved_edits()), None)
        if unsaved is None:
            for explorer in explorers:  # every edit is in a saved file: no autosave to offer
                explorer.discard_autosave()
            self.exit()
            return

        def answer(choice: str | None) -> None:
            if choice == "quit":
                self.exit()
            elif choice in ("recipe", "weights"):
                unsaved.save_then(choice, self.quit_asking)

        self.push_screen(UnsavedDialog(unsaved.model_name, unsaved.unsaved_edits()), answer)

    def action_help_quit(self) -> None:
        """ctrl+c: say how to quit (Textual's own text carries markup, shown raw here)."""
        self.notify("press q or ctrl+q to quit (ctrl+c copies in text fields)",
                    title="Do you want to quit?")

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_command_palette(self) -> None:
        """Open the command palette (with an ASCII search icon under --ascii)."""
        from textual.command import CommandPalette, SearchIcon

        if not self.use_command_palette or CommandPalette.is_open(self):
            return
        palette = CommandPalette(id="--command-palette")
        await self.push_screen(palette)
        if self.ascii_only:
            palette.query_one(SearchIcon).icon = ">"

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """List every action of the current screen (and the app) in the command palette."""
        yield from super().get_system_commands(screen)
        for keys, description, action, node, _id in key_table(screen):
            if action == "command_palette":
                continue
            yield SystemCommand(escape(f"{description} ({keys})"), f"action: {action}",
                                lambda node=node, action=action: self.run_action(action, node))


def _use_ascii_scrollbars() -> None:
    """Draw the scrollbars of --ascii apps with ASCII characters only (other apps unchanged)."""
    from textual._context import active_app
    from textual.scrollbar import ScrollBar, ScrollBarRender

    if getattr(ScrollBar.renderer, "ptm_aware", False):
        return

    class AsciiScrollBarRender(ScrollBarRender):
        VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
        HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8

    def pick_renderer(**kwargs: object) -> ScrollBarRender:
        app = active_app.get(None)
        cls = AsciiScrollBarRender if getattr(app, "ascii_only", False) else ScrollBarRender
        return cls(**kwargs)  # type: ignore[arg-type]

    pick_renderer.ptm_aware = True  # type: ignore[attr-defined]
    ScrollBar.renderer = staticmethod(pick_renderer)  # type: ignore[assignment]


def restore_target(args: argparse.Namespace) -> None:
    """For `--restore` without a model: open the model of the newest autosave, with its weights;
    raise BadInput when there is none."""
    if not getattr(args, "restore", False) or args.model:
        return
    from engine.edit.autosave import autosave_folder, latest
    from engine.errors import BadInput

    recipe = latest()
    if recipe is None:
        raise BadInput("there are no autosaved edits to restore",
                       f"{autosave_folder()} holds no recipe with edits",
                       "open a model with `ptm-tui MODEL`; its edits are autosaved from then on")
    args.model, args.weights = recipe.model["name"], recipe.model.get("weights", "none")


def run_app(args: argparse.Namespace) -> int:
    """Run the TUI for parsed `ptm-tui [MODEL]` arguments and return the exit code."""
    restore_target(args)
    app = PtmApp(model=args.model, weights=args.weights, ascii_only=args.ascii, light=args.light,
                 device=args.device, trust_code=args.trust_code)
    result = app.run()
    exit_now(int(result or app.return_code or 0))  # the terminal is back: do not wait for workers
