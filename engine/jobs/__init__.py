"""Run training detached: a folder per job, a runner process, status files, stop, resume, torchrun.

May import: every engine package but doctor; only the faces and doctor import it.
"""
