"""Widgets of the TUI: layer tree, layer panel, histogram, header, progress."""
