"""The screens of the TUI, grouped by what the user does: catalog, explore, edit, use, train, jobs.

Each package holds a screen with its dialogs (and the explorer's action mixins for it); base.py and
help.py serve every screen."""
