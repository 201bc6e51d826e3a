"""Finetune jobs: a folder per job, a detached runner process, status files, stop and resume."""
