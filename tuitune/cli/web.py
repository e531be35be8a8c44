"""`tuitune web`: the app in a browser through textual-serve, on localhost only (reach it over `ssh -L`).

Every visit starts its own `tuitune` process, and each attaches to the home's one engine server, so a second tab
chats at once without loading the model again.

The page is textual-serve's own with one script added: its terminal (xterm.js) sends Shift+Enter and Alt+Enter as a
plain Enter (Textual reads ESC CR as Enter too), so the message went off where a browser user meant a new line; the
script sends them as ctrl+j, the app's newline key."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

import click

from tuitune.cli.context import CliContext, UserError, run_guarded

PAGE = "app_index.html"  # textual-serve's page template
NEWLINE_KEYS = """{% raw %}<script>
window.addEventListener("keydown", (event) => {
  const newline = event.key === "Enter" && (event.shiftKey || event.altKey) && !event.ctrlKey && !event.metaKey;
  if (!newline || event.isComposing) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  const ctrlJ = new KeyboardEvent("keydown", {key: "j", code: "KeyJ", ctrlKey: true, bubbles: true, cancelable: true});
  Object.defineProperty(ctrlJ, "keyCode", {value: 74});  // what xterm.js reads
  event.target.dispatchEvent(ctrlJ);
}, true);
</script>{% endraw %}
"""


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8566, show_default=True, help="the local port")
@click.pass_obj
def web(ctx: CliContext, port: int) -> None:
    """Serve the app to a browser on http://localhost:PORT (ssh -L PORT:localhost:PORT from your laptop)."""
    run_guarded(lambda: _web(ctx, port))


def _web(ctx: CliContext, port: int) -> None:
    from textual_serve.server import Server

    from tuitune.server.lifecycle import tuitune_argv

    settings = ctx.settings
    command = shlex.join(tuitune_argv(settings))
    click.echo(
        f"tuitune in the browser at http://localhost:{port} (ssh -L {port}:localhost:{port} <this host>)", err=True
    )
    with tempfile.TemporaryDirectory(prefix="tuitune-web-") as folder:
        server = Server(command, host="localhost", port=port, title="tuitune", templates_path=page_templates(folder))
        try:
            server.serve()
        except OSError as exc:  # the port in use, most likely: the user's to choose again
            raise UserError(f"cannot serve on localhost:{port}: {exc.strerror or exc}") from None


def page_templates(folder: str) -> Path:
    """A templates folder holding textual-serve's page with the newline keys' script; textual-serve's own folder
    when its page has no </head> to put it before."""
    import textual_serve

    templates = Path(textual_serve.__file__).parent / "templates"
    page = (templates / PAGE).read_text(encoding="utf-8")
    if "</head>" not in page:
        return templates
    (Path(folder) / PAGE).write_text(page.replace("</head>", NEWLINE_KEYS + "</head>", 1), encoding="utf-8")
    return Path(folder)


COMMANDS = [web]
