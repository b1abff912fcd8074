"""Experiments that return plain data (the CLI and reports sit on top)."""
