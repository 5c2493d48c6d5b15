"""``loopml serve``: serve a registered model version (or a bundle) over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopml.cli import output

# the platform server command's port check and URL formatting, shared
from loopml.cli.server import LOOPBACK, check_port_free, url_host
from loopml.cli.trust import TRUST_CODE_OPTION, TRUST_CODE_WARNING
from loopml.core.errors import BackendUnavailableError

MEGABYTE = 1024 * 1024


def serve_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="REF_OR_BUNDLE",
            help="NAME@ALIAS (followed as the alias moves), NAME@3, NAME, or a bundle folder "
            "written by 'loopml package'.",
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each loads the model).")
    ] = 1,
    max_batch_size: Annotated[
        int,
        typer.Option("--max-batch-size", min=1, help="Most rows one model call predicts."),
    ] = 64,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            "--max-wait-ms",
            min=0,
            max=1000,
            help="How long a batch smaller than the previous one waits for more requests "
            "(a lone request after lone requests never waits).",
        ),
    ] = 2.0,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Most rows in one request (else 413).")
    ] = 10_000,
    max_body_bytes: Annotated[
        int,
        typer.Option("--max-body-bytes", min=1, help="Largest request body in bytes (else 413)."),
    ] = 10 * MEGABYTE,
    poll_seconds: Annotated[
        float,
        typer.Option(
            "--poll-seconds",
            min=0.05,
            help="How often to ask the registry whether the alias moved.",
        ),
    ] = 5.0,
    canary: Annotated[
        str | None,
        typer.Option(
            "--canary",
            metavar="ALIAS:PERCENT",
            help="Send this share of requests to another alias of the model, e.g. "
            "'challenger:10%'. Answers name the version that produced them.",
        ),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow",
            metavar="ALIAS",
            help="Have another alias score a copy of every request in the background; its "
            "answers are logged (traffic 'shadow'), never returned.",
        ),
    ] = None,
    no_log: Annotated[
        bool,
        typer.Option("--no-log", help="Do not log predictions (nor take labels on /feedback)."),
    ] = False,
    log_roll_seconds: Annotated[
        float,
        typer.Option(
            "--log-roll-seconds",
            min=0.1,
            help="Store the prediction log as a Parquet part at least this often.",
        ),
    ] = 60.0,
    log_roll_rows: Annotated[
        int,
        typer.Option("--log-roll-rows", min=1, help="Most rows in one stored log part."),
    ] = 100_000,
    no_onnx: Annotated[
        bool,
        typer.Option("--no-onnx", help="Serve the native model even if an ONNX variant exists."),
    ] = False,
    log_stuck_seconds: Annotated[
        float,
        typer.Option(
            "--log-stuck-seconds",
            min=0.1,
            help="/health calls the prediction log stuck when rows wait this much too long.",
        ),
    ] = 120.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            min=0.1,
            help="Seconds a client has to send a request's headers (else 408, closed).",
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            min=0.1,
            help="Seconds a client has to send a request's body after its headers (else 408).",
        ),
    ] = 60.0,
    max_connections: Annotated[
        int | None,
        typer.Option(
            "--max-connections",
            min=1,
            help="Most open connections per process (default: the file limit less a reserve).",
        ),
    ] = None,
    trust_code: Annotated[bool, TRUST_CODE_OPTION] = False,
    drift_reference: Annotated[
        str | None,
        typer.Option(
            "--drift-reference",
            metavar="REF",
            help="What live drift compares with: a table file or NAME@VERSION [default: the "
            "training data of the version served].",
        ),
    ] = None,
    drift_window: Annotated[
        int, typer.Option("--drift-window", min=1, help="Live drift looks at the last ROWS.")
    ] = 5_000,
    drift_interval: Annotated[
        float,
        typer.Option("--drift-interval", min=0.05, help="Seconds between live drift updates."),
    ] = 30.0,
    no_drift: Annotated[
        bool, typer.Option("--no-drift", help="Compute no live drift (no drift gauges).")
    ] = False,
    sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--sensitive",
            metavar="COL[:drop|hash]",
            envvar="LOOPML_SERVE_SENSITIVE",
            help="An input column the prediction log must not hold: left out (drop, the "
            "default) or replaced by a keyed hash (hash; key from LOOPML_LOG_HASH_KEY_FILE). "
            "Repeat for more columns.",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding the token requests must send as 'Authorization: Bearer …' "
            "(all but /health, /ping, /v2/health/*, /metrics) [default: "
            "LOOPML_SERVE_TOKEN_FILE, LOOPML_SERVE_TOKEN; none: no check].",
        ),
    ] = None,
    allow_anonymous: Annotated[
        bool,
        typer.Option(
            "--allow-anonymous",
            help="Serve beyond loopback without a token (something in front checks callers).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors (no banner, no swaps).")
    ] = False,
) -> None:
    """Serve a model over HTTP: MLflow's /invocations and the Open Inference Protocol (/v2).

    Every request is checked against the version's signature (bad input gets a 4xx naming
    the field); concurrent requests share model calls (micro-batching); when NAME@ALIAS
    moves, the new version is loaded in the background and swapped in without failing a
    request. Versions with an ONNX variant are served with ONNX Runtime. Once the model is
    loaded, it prints a curl request for each protocol that fits it (one row of its input
    example, in the columns of its signature). Docs of every endpoint:
    http://HOST:PORT/docs. Stop with Ctrl-C.

    Examples:

        loopml serve cancer@champion
        loopml serve cancer@3 --port 9000 --workers 4
        loopml serve dist/cancer --host 0.0.0.0   # a 'loopml package' bundle
        loopml serve cancer@champion --sensitive ssn --sensitive email:hash

    Then, with J='Content-Type: application/json' and C='Content-Type: text/csv':

        curl localhost:8080/invocations -H "$J" -d '{"dataframe_split":
          {"columns": ["age", "income"], "data": [[41, 52000.0]]}}'
        curl localhost:8080/invocations -H "$J" -d '{"inputs": [[1.5, 2.0]]}'
        curl localhost:8080/invocations -H "$C" --data-binary @rows.csv
        curl localhost:8080/v2/models/cancer/infer -H "$J" -d '{"inputs":
          [{"name": "inputs", "shape": [1, 2], "datatype": "FP64",
            "data": [1.5, 2.0]}]}'
        curl localhost:8080/v2/models/cancer   # its inputs and outputs
        curl localhost:8080/health             # 200 once loaded, else 503
        curl localhost:8080/metrics            # Prometheus
        loopml serve cancer@champion --host 0.0.0.0 --token-file /run/secrets/serve-token
        curl -H "Authorization: Bearer $(cat token)" localhost:8080/invocations ...
    """
    try:
        from loopml.serving import ServeOptions, serve
        from loopml.serving.run import Started
        from loopml.serving.split import parse_split
        from loopml.serving.token_auth import check_exposure, read_token
    except ImportError as exc:  # the 'serve' extra brings orjson (and uvicorn's own extras)
        raise BackendUnavailableError(
            f"'loopml serve' needs {exc.name}: pip install 'loopml[serve]'."
        ) from exc

    options = ServeOptions(
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_rows=max_rows,
        max_body_bytes=max_body_bytes,
        poll_seconds=poll_seconds,
        prefer_onnx=not no_onnx,
        log_predictions=not no_log,
        log_roll_seconds=log_roll_seconds,
        log_roll_rows=log_roll_rows,
        log_stuck_seconds=log_stuck_seconds,
        canary=canary,
        shadow=shadow,
        header_timeout_seconds=header_timeout,
        body_timeout_seconds=body_timeout,
        max_connections=max_connections,
        trust_code=trust_code,
        drift=not no_drift,
        drift_window_rows=drift_window,
        drift_interval_seconds=drift_interval,
        drift_reference=drift_reference,
        sensitive=tuple(sensitive or ()),
    )
    options.input_redaction()  # fails now (exit 2) if a column is to be hashed without a key
    # before anything binds (the port probe included): beyond loopback, a token or consent
    token = read_token(token_file)
    check_exposure(host, token, allow_anonymous=allow_anonymous)
    check_port_free(host, port)

    def announce(started: Started) -> None:
        if quiet:  # nothing to print: not even rich is imported
            return
        err = output.console(stderr=True)
        processes = f", {workers} workers" if workers > 1 else ""
        err.print(
            f"loopml serve {target} on http://{url_host(host)}:{port}{processes}  "
            f"(docs: /docs, health: /health)",
            markup=False,
            soft_wrap=True,
        )
        split = parse_split(canary=canary, shadow=shadow)
        if split is not None:
            err.print(split.describe(), markup=False, soft_wrap=True)
        if started.run_id is not None:
            err.print(
                f"Logging predictions to run {started.run_id} (experiment 'serving'); see "
                "them with 'loopml monitor predictions'.",
                markup=False,
                soft_wrap=True,
            )
        if started.deployment_id is not None:
            err.print(
                f"Deployment {started.deployment_id} (registered once the model is loaded); "
                "see 'loopml deployments list'.",
                markup=False,
                soft_wrap=True,
            )
        if trust_code:
            err.print(TRUST_CODE_WARNING, style="yellow", markup=False, soft_wrap=True)
        for note in (started.note, started.log_note):
            if note:
                err.print(note, style="yellow", markup=False, soft_wrap=True)
        if token is not None:
            err.print(
                "Requests need the token as 'Authorization: Bearer …' (all but /health, /ping, "
                "/v2/health/*, /metrics).",
                markup=False,
                soft_wrap=True,
            )
        if host not in LOOPBACK:
            anonymous = "" if token is not None else ", and answers anyone (--allow-anonymous)"
            err.print(
                f"Warning: listening on {host}, reachable from other machines{anonymous}.",
                style="yellow",
            )

    serve(
        target,
        options,
        host=host,
        port=port,
        workers=workers,
        log_level="error" if quiet else "warning",
        on_start=announce,
        token_file=token_file,
        allow_anonymous=allow_anonymous,
    )
