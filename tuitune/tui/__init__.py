"""The Textual app: `make_app(settings)` builds it for the CLI and the tests alike."""
