"""Explorer actions that open the tool screens: initialise, activation stds, predict, finetune."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.screens.explore.explorer import ExplorerScreen


class ToolActions:
    """Explorer actions that open other screens on the model (mixed into ExplorerScreen).

    Relies on the explorer's `workbench`, `current_path`, `edit_busy()` and `refresh_after_edit(edit)`.
    """

    # --- initialisation (edit/init_dialog.py, edit/init_lab.py, explore/activation_std.py) ---

    def action_initialise(self: ExplorerScreen) -> None:
        """Open the initialise dialog on the layer under the cursor."""
        path = self.current_path
        if self.edit_busy() or path is None:
            return
        from tui.screens.edit.init_dialog import InitDialog

        def done(applied: int | None) -> None:
            if applied:
                self.refresh_after_edit({"op": "init", "target": path})

        self.app.push_screen(InitDialog(self.workbench, path), callback=done)

    def action_activation_std(self: ExplorerScreen) -> None:
        """Plot every layer's output std for a random batch through the model."""
        if self.edit_busy():
            return
        from tui.screens.explore.activation_std import ActivationStdScreen

        self.app.push_screen(ActivationStdScreen(self.workbench))

    def action_finetune(self: ExplorerScreen) -> None:
        """Open the launch form for a finetune job of this model (tui/screens/train/launch.py)."""
        if self.edit_busy():
            return
        from tui.screens.train.launch import LaunchScreen

        self.app.push_screen(LaunchScreen(self.workbench, self.recipe_train()))

    def action_jobs(self: ExplorerScreen) -> None:
        """Open the Jobs screen (tui/screens/jobs/jobs.py)."""
        from tui.screens.jobs.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def action_export_graph(self: ExplorerScreen) -> None:
        """Write the autograd graph of one forward pass (the .dot source when Graphviz is
        missing), as `ptm-tui graph` does (tui/screens/use/graph_dialog.py)."""
        if self.edit_busy():
            return
        from tui.screens.use.graph_dialog import GraphDialog

        def done(path: object) -> None:
            if path is not None:
                self.notify(f"graph written to {path}", timeout=6)

        self.app.push_screen(GraphDialog(self.workbench), done)

    def action_export_model(self: ExplorerScreen) -> None:
        """Write the model as a torch.export archive, ONNX, TorchScript or safetensors, checked
        against torch, as `ptm-tui export` does (tui/screens/use/export_dialog.py)."""
        if self.edit_busy():
            return
        from tui.screens.use.export_dialog import ExportDialog

        def done(path: object) -> None:
            if path is not None:
                self.notify(f"model exported to {path}", timeout=6)

        self.app.push_screen(ExportDialog(self.workbench), done)

    def action_init_lab(self: ExplorerScreen) -> None:
        """Open the Init Lab (the depth/std experiment)."""
        from tui.screens.edit.init_lab import InitLabScreen

        self.app.push_screen(InitLabScreen())

    # --- using the model (tui/screens/use/predict.py, actmap.py) ------------------------------

    def action_predict(self: ExplorerScreen) -> None:
        """Ask for an image path and show the model's top-k as a bar chart with names."""
        if self.edit_busy():
            return
        from tui.screens.use.predict import PredictScreen

        self.app.push_screen(PredictScreen(self.workbench))

    def action_actmap(self: ExplorerScreen) -> None:
        """Ask for an image path and draw the activation maps of each stage, layer by layer."""
        if self.edit_busy():
            return
        from tui.screens.use.actmap import ActmapScreen

        self.app.push_screen(ActmapScreen(self.workbench))

    # --- the layer's path -----------------------------------------------------------------

    def action_copy_path(self: ExplorerScreen) -> None:
        """Copy the path of the layer under the cursor (OSC 52: the terminal's clipboard, over
        SSH too) and say what was copied."""
        path = self.current_path
        if path is None:
            return
        self.app.copy_to_clipboard(path)
        self.notify(f"copied {path or '(the whole model: empty path)'}", timeout=3)
