"""The one room that touches torch and transformers: loading, layers, chat formatting and hooks."""
