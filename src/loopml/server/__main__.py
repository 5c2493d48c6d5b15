"""``python -m loopml.server --host 127.0.0.1 --port 5000 --store-uri … --artifact-uri …``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loopml.core.errors import LoopMLError
from loopml.server.limits import (
    DEFAULT_MAX_BLOB_MB,
    DEFAULT_MAX_BODY_MB,
    ENV_MAX_BLOB_MB,
    ENV_MAX_BODY_MB,
)
from loopml.server.run import DEFAULT_HOST, DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loopml.server", description="Run the loopml platform API server."
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (%(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (%(default)s)")
    parser.add_argument("--store-uri", help="metadata store URI (default: from the config)")
    parser.add_argument("--artifact-uri", help="artifact store URI (default: from the config)")
    parser.add_argument(
        "--spool-dir", type=Path, help="folder for uploads in transit (default: TMPDIR)"
    )
    parser.add_argument(
        "--max-body-mb",
        type=float,
        help=f"largest JSON request body in MiB (default: ${ENV_MAX_BODY_MB} or "
        f"{DEFAULT_MAX_BODY_MB})",
    )
    parser.add_argument(
        "--max-blob-mb",
        type=float,
        help=f"largest blob upload in MiB (default: ${ENV_MAX_BLOB_MB} or {DEFAULT_MAX_BLOB_MB})",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        help="gate policy (gates.yaml) that moves of protected aliases must satisfy (default: "
        "$LOOPML_SERVER_POLICY, else the project's gates.yaml, if any)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (%(default)s)",
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        default=None,
        help="every request needs an API token (default: $LOOPML_AUTH, else off)",
    )
    args = parser.parse_args(argv)
    try:
        serve(
            args.host,
            args.port,
            store_uri=args.store_uri,
            artifact_uri=args.artifact_uri,
            log_level=args.log_level,
            spool_dir=args.spool_dir,
            max_body_mb=args.max_body_mb,
            max_blob_mb=args.max_blob_mb,
            auth=args.auth,
            policy=args.policy,
        )
    except LoopMLError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
