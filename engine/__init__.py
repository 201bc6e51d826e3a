"""The ptm-tui engine: models, weights, trees, statistics, edits and training. Never imports the UI."""
