"""Looking at an opened model: the explorer, its search, summary, comparison and activation stds."""
