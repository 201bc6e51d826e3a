"""Watching finetune jobs: the jobs screen, how layers learn, and a job's evaluation."""
