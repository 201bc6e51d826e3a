"""The base of every screen: one place where worker errors become notifications."""

from __future__ import annotations

from textual.dom import DOMNode
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.guard import GuardedDispatch, error_text
from tui.navigation import NavigationKeys

__all__ = ["PtmScreen", "error_text", "worker_running"]


def worker_running(node: DOMNode, group: str) -> bool:
    """Return True while a worker of `node` in `group` has not finished."""
    return any(w.node is node and w.group == group and not w.is_finished for w in node.workers)


class PtmScreen(GuardedDispatch, Screen, NavigationKeys):
    """A screen whose failed workers and handlers turn into error notifications (the app keeps
    running), with the navigation keys of every screen (tui/navigation.py)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Notify the user of a worker that failed; let the screen react via `worker_failed`."""
        if event.state == WorkerState.ERROR and not self.worker_failed(event.worker):
            self.notify(error_text(event.worker.error), title=f"{event.worker.name} failed",
                        severity="error", timeout=10)

    def worker_failed(self, worker: Worker) -> bool | None:
        """Called when a worker of this screen failed (override to restore state); return True
        when the screen shows the reason itself, so no toast repeats it."""
