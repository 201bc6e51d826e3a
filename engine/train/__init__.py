"""Train a model: the [train] config, data, parameter groups, the loop, diagnostics and checkpoints.

May import: the shared basics, engine.models, engine.inspect, engine.edit and engine.use.
"""
