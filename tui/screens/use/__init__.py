"""Using a model: predict, activation maps, the autograd graph and model export."""
