"""The faces of ptm-tui: the Textual app and the command line."""
