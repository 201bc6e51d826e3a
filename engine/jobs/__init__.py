"""Run training detached: a folder per job, a runner process, status files, stop, resume, torchrun.

May import: every other engine package (it is the top layer); only the faces import it.
"""
