"""Get a model: which models exist, their weights' meta, building them, and their weights files.

The catalog lists torchvision's registry, timm's models and user factories; the builders make a
model on meta, the CPU or CUDA without the network; `weights/` finds, downloads (hash-checked,
resumable, atomic) and safely reads weights files; the loader puts the two together.
May import: the shared basics (engine.errors, engine.atomic, engine.paths, engine.outputs) and
torch/torchvision/timm. Nothing else of the engine: every other package builds on this one.
"""
