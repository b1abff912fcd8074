"""The HTTP server (``emoscope serve``): an OpenAI-compatible API with steering and readings, and a dashboard."""
