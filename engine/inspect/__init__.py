"""Look inside a model: the module tree as data, its head and input layer, per-layer statistics,
the summary (torchinfo's table, torch's FLOP counter), detection/segmentation structure, the graph.

Nothing here changes a model; the meta copies that summaries and shape checks run on live here
too (`meta.py`), because looking inside is what needs them first.
May import: the shared basics and engine.models.
"""
