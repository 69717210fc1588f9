"""Keeping credentials out of what the engine stores and logs."""
