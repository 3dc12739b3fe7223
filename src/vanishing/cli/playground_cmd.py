"""`vanishing playground`: a local web page where gradients vanish live and the fix is one click away."""

from __future__ import annotations

import threading
import webbrowser
from typing import Optional

import typer

from ..playground.limits import LOCAL_HOST, Limits
from ..threads import resolve_threads, run_work, torch_threads
from ._common import console, err_console, handle_errors, threads_option

__all__ = ["register", "DEFAULT_PORT"]

DEFAULT_PORT = 8765
_D = Limits()


def playground_command(
    host: str = typer.Option(LOCAL_HOST, metavar="ADDRESS", help="Address to listen on; anything but 127.0.0.1 "
                             "lets other machines start runs on this one."),
    port: int = typer.Option(DEFAULT_PORT, metavar="N", help="Port (0: any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the page in a browser."),
    max_depth: int = typer.Option(_D.max_depth, metavar="N", help="Deepest network a page may ask for."),
    max_width: int = typer.Option(_D.max_width, metavar="N", help="Widest hidden layer a page may ask for."),
    max_steps: int = typer.Option(_D.max_steps, metavar="N", help="Most training steps of one run."),
    max_runs: int = typer.Option(_D.max_runs, metavar="N", help="Runs training at once, all pages together."),
    threads: Optional[int] = threads_option(),
) -> None:
    """Serve the playground: watch gradients vanish layer by layer, turn the knobs, apply the fix (offline)."""
    limits = Limits(max_depth=max_depth, max_width=max_width, max_steps=max_steps, max_runs=max_runs)
    if host != LOCAL_HOST:
        err_console.print(f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this address can "
                          "start training runs on this machine (the playground has no login)", highlight=False)
    # every run shares the process: threads for the widest network a page may train, on the idle cores
    n = resolve_threads(threads, run_work(min(limits.max_batch_size, 256), min(limits.max_width, 256)))
    from ..playground.server import Server  # the web framework only when the command runs

    server = Server(host, port, limits)
    with torch_threads(n):
        server.start()
        console.print(f"vanishing playground on [bold]{server.url}[/] (Ctrl-C stops it)", highlight=False)
        if not no_browser:
            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
        try:
            server.wait()
        except KeyboardInterrupt:  # the usual way to end a server: not an error
            console.print("stopping the playground (its runs are stopped)")
        finally:
            server.stop()


def register(app: typer.Typer) -> None:
    app.command("playground")(handle_errors(playground_command))
