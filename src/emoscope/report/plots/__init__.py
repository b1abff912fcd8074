"""The figures of the result pages, one module per page (matplotlib on Agg, each figure a data URI)."""
