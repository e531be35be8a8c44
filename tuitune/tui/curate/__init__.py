"""Curating the training set (the curate screen), blind A/B between adapters in the chat, and export."""
