"""Widgets of the chat screen; each one shows data it is given and says what the user did with messages."""
