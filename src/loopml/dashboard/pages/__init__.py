"""One module per dashboard page: a thin handler over the capability functions."""
