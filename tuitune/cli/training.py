"""Filled in by its own change."""

COMMANDS: list = []
