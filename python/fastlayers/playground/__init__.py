"""`fastlayers playground`: a local web page in the spirit of playground.tensorflow.org that
trains a small MLP on fastlayers' kernels while the page draws the decision boundary, every
neuron's output, the weights and the loss curves (server.py: HTTP + Server-Sent Events;
session.py: training; params.py: validation; static/: the page, plain JS, no CDN)."""
from __future__ import annotations

import sys

__all__ = ["add_arguments", "run"]


def add_arguments(p) -> None:
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.set_defaults(func=run)


def run(args) -> int:
    from .server import make_server
    try:
        server = make_server(args.host, args.port)
    except OSError as exc:
        print(f"--port {args.port}: cannot listen on {args.host}:{args.port} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    host = server.server_address[0]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{server.server_port}/"
    print(f"fastlayers playground at {url}  (Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        import webbrowser
        webbrowser.open(url)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
