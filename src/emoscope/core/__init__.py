"""Pure NumPy math: the paper's recipe, projections and statistics (no torch here)."""
