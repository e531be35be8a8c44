"""The chat screen, the help screen and the dialogs."""
