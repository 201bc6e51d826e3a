"""Finetuning: the [train] config, data, parameter groups, the loop and checkpoints."""
