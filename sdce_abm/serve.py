"""`sdce viz`: Solara's server for the interactive page (`sdce_abm.app`), bound to localhost unless told otherwise."""

from __future__ import annotations

import errno
import os
import socket
import warnings

from sdce.errors import ConfigError

APP = "sdce_abm.app"


def check_address(host: str, port: int) -> None:
    """Reject a port out of range, a host that does not resolve, or an address already in use, before starting."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"port: must be an integer in 1..65535 (got {port})")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"host: cannot resolve {host!r} ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"host: {host!r} is not an address of this machine ({exc.strerror}); use "
                                  "127.0.0.1, 0.0.0.0 or one of its interfaces") from None
            raise ConfigError(f"port: cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None


def serve(host: str, port: int) -> None:
    """Run the server in the foreground until Ctrl-C (uvicorn then shuts down and this returns)."""
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no calls home from a research machine
    for noise in (r".*ComponentsView: `use_state` found despite early return",  # in Mesa's own page component
                  r"Cookies with samesite=none require https"):  # plain http on localhost is intended
        warnings.filterwarnings("ignore", message=noise)
    from click.exceptions import Abort
    from solara.__main__ import run

    try:
        run.main(args=[APP, "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version",
                       "--log-level-uvicorn", "warning"], standalone_mode=False)
    except (KeyboardInterrupt, Abort):  # uvicorn has shut down and re-raised the Ctrl-C it caught
        pass
