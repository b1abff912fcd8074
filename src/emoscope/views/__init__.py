"""Views of readings: colour terminal output and self-contained HTML pages."""
