"""Changing a model: surgery, weight files, freezing, initialisation, autosave, unsaved edits."""
