"""One module per page of the explorer; each has ``render()``. Their SQL lives in ``lake/``."""
