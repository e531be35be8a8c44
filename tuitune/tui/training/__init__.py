"""Training in the TUI: the panel that starts and follows a run and swaps its adapter in, the train dialog, the
before/after view and the adapters screen. The backend is `tuitune.training`; nothing here imports torch."""
