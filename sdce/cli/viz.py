"""`sdce viz`: the interactive market in the browser (Mesa's SolaraViz page)."""

from __future__ import annotations

import os

import typer

from sdce.cli.common import clean_errors


def viz(
    port: int = typer.Option(8765, help="Port of the page."),
    host: str = typer.Option("127.0.0.1", help="Address to bind: localhost by default; 0.0.0.0 exposes it."),
) -> None:
    """The interactive market in the browser: Mesa's SolaraViz page for the ABM (Ctrl-C stops it)."""
    from sdce_abm.serve import check_address, serve

    with clean_errors():
        check_address(host, port)
    print(f"sdce viz: the interactive market at http://{host}:{port} (Ctrl-C to stop)", flush=True)
    serve(host, port)
    print("sdce viz: stopped", flush=True)
    os._exit(0)  # a session's background work (a mean-field solve, a play loop) would otherwise hold the exit
