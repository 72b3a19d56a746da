"""``dsscan app``: the explorer (Streamlit) on the lake(s) given, reachable from this machine only.

The settings travel as Streamlit flags, so they hold wherever the command runs (the repository's
``.streamlit/config.toml`` is only read from its root): the server listens on 127.0.0.1, collects
no usage statistics and shows the viewer's toolbar (no Deploy button). The app serves only the
lakes named here; it has no box to open another path.
"""
from __future__ import annotations

import argparse
import os
import sys

from dsscan.config import LAKE_ROOT_HELP, default_lake_root

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8501  # Streamlit's own
EPILOG = """\
examples:
  dsscan app                                  # the default lake, on http://127.0.0.1:8501
  dsscan app --lake dsscan-lake --lake /data/other-lake --port 8600
  dsscan app --host 0.0.0.0                   # on purpose: every interface, NO authentication

On a cluster, reach a loopback-only app through an SSH tunnel (ssh -L 8501:127.0.0.1:8501 HOST)
or kubectl port-forward rather than exposing it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="open the explorer app (Streamlit) on the lake",
        description="Start the explorer app: paper 001's Figures 2 and 3, any two columns, what each "
                    "constraint removes, and read-only SQL, over the lake(s) given.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--lake", metavar="ROOT", action="append",
                        help=f"{LAKE_ROOT_HELP}; repeat it to serve several lakes")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    parser.add_argument("--host", default=LOOPBACK,
                        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 exposes the "
                             "app and its lakes to the network without authentication)")
    parser.set_defaults(func=run)


def streamlit_argv(lakes: list[str], host: str, port: int) -> list[str]:
    """The ``python -m streamlit run`` command line of the app with its settings as flags."""
    from importlib import resources

    app = str(resources.files("streamlit_app").joinpath("app.py"))
    settings = {"server.address": host, "server.port": port, "server.headless": "true",
                "browser.gatherUsageStats": "false", "client.toolbarMode": "viewer"}
    return [sys.executable, "-m", "streamlit", "run", app, *(f"--{k}={v}" for k, v in settings.items()),
            "--", *(f"--lake={lake}" for lake in lakes)]


def run(args: argparse.Namespace) -> int:
    lakes = args.lake or [default_lake_root()]
    if args.host != LOOPBACK:
        print(f"dsscan: warning: the app listens on {args.host}, without authentication: anyone who reaches "
              f"this machine's port {args.port} can read {', '.join(lakes)}", file=sys.stderr)
    argv = streamlit_argv(lakes, args.host, args.port)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # the app replaces this process: its pid, signals and exit status are the app's
