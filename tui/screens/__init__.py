"""The screens of the TUI: catalog, explorer, help."""
