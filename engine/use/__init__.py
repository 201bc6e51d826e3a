"""Use a model: predictions with category names, features, activation maps, and the init lab's
experiments (they run models on inputs, so they live here rather than in edit/).

May import: the shared basics, engine.models, engine.inspect and engine.edit.
"""
