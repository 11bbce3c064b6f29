"""``mtlzoo serve``: TensorFlow Serving's REST API for a directory of exported models."""

from __future__ import annotations

import ipaddress
import logging
import signal
from pathlib import Path

import click

#: Default request-size limit in MiB (a batch of 64 MultiMNIST images as JSON is about 0.5 MiB).
DEFAULT_MAX_REQUEST_MB = 32.0
#: The layout of DIR, for error messages.
LAYOUT = "DIR/<model_name>/<version>/saved_model.pb, as `mtlzoo export SOURCE --out DIR/<model_name>` writes it"


@click.command()
@click.argument("directory", metavar="DIR", type=click.Path(path_type=str))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default answers this machine only; 0.0.0.0 opens the server to "
                   "the network (it has no authentication).")
@click.option("--port", type=click.IntRange(0, 65535), default=8501, show_default=True,
              help="TCP port (TF Serving's REST default); 0 picks a free one.")
@click.option("--max-request-mb", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_MAX_REQUEST_MB,
              show_default=True, help="Largest request body accepted, in MiB; larger ones get a 413 error.")
@click.option("--read-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Seconds a client has to send its request headers, and again its body; slower clients get a "
                   "408 error and are disconnected.")
@click.option("--max-connections", type=click.IntRange(min=1), default=512, show_default=True,
              help="Most connections open at once; past it a new connection gets a 503 error and is closed.")
def serve(directory: str, host: str, port: int, max_request_mb: float, read_timeout: float,
          max_connections: int) -> None:
    """Serve every model folder in DIR over TensorFlow Serving's REST API.

    DIR holds one folder per model, named as the model is served, with one
    SavedModel per version: DIR/<model_name>/<version>/saved_model.pb, as
    `mtlzoo export SOURCE --out DIR/<model_name>` writes it. The latest
    version answers requests without a version; other versions load on first
    use. Folders that are not positive integers or hold no saved_model.pb are
    ignored. Ctrl+C (or SIGTERM) stops the server after answering the requests
    in flight (up to 10 s); clients still sending a request are disconnected.

    \b
    Endpoints (as TensorFlow Serving):
      GET  /v1/models/<name>[/versions/<v>]            status
      GET  /v1/models/<name>[/versions/<v>]/metadata   signatures, inputs, outputs
      POST /v1/models/<name>[/versions/<v>]:predict    {"instances": [...]} or {"inputs": ...},
                                                       optional "signature_name" (default serving_default)

    \b
    Examples:
      mtlzoo serve exports
      mtlzoo serve exports --port 0 --max-request-mb 64
      curl http://127.0.0.1:8501/v1/models/multimnist_lenet/metadata
      python -c "import json; print(json.dumps({'instances': [[[[0.0]]*28]*28]}))" > request.json
      curl -d @request.json http://127.0.0.1:8501/v1/models/multimnist_lenet:predict

    \b
    Make DIR from a run folder of `mtlzoo train`, or in Python:
      mtlzoo export runs/multimnist_lenet-multidigits-mgda_ub-seed0 --out exports/multimnist_lenet
      mtlzoo.tools.export(model, "exports/multimnist_lenet")
    """
    folder = Path(directory)
    if not folder.is_dir():  # checked before TensorFlow loads, to answer at once
        problem = "is a file, not a folder" if folder.exists() else "does not exist"
        raise click.ClickException(f"DIR '{directory}' {problem}; expected {LAYOUT}")
    handler = _EchoHandler()
    loggers = [logging.getLogger(name) for name in ("uvicorn", "mtlzoo.tools.serving")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        _serve(directory, host, port, max_request_mb, read_timeout, max_connections)
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _serve(directory: str, host: str, port: int, max_request_mb: float, read_timeout: float,
           max_connections: int) -> None:
    from mtlzoo.tools.serving import ModelServer, ServingError

    try:
        server = ModelServer(directory, host=host, port=port, max_request_bytes=int(max_request_mb * 2 ** 20),
                             read_timeout=read_timeout, max_connections=max_connections)
    except (FileNotFoundError, ValueError, OSError, ServingError) as error:
        raise click.ClickException(str(error.message if isinstance(error, ServingError) else error)) from None
    repository = server.repository
    click.echo(f"Serving {len(repository.names)} model(s) from {directory} at {server.url} (Ctrl+C to stop):")
    for name in repository.names:
        latest = repository.latest(name)
        signatures = ", ".join(f"{key} ({sig.describe_inputs()})" for key, sig in sorted(latest.signatures.items()))
        versions = ", ".join(map(str, repository.versions(name)))
        click.echo(f"  {name}  versions {versions} (serving {latest.version})  signatures: {signatures}")
        click.echo(f"    POST {server.url}/v1/models/{name}:predict")
    if not _is_loopback(host):
        click.echo(f"Warning: listening on {host}, reachable from other machines; the server has no "
                   "authentication.", err=True)
    # SIGTERM ends the server like Ctrl+C: uvicorn finishes the requests in flight, then re-raises the
    # signal, which this handler turns into KeyboardInterrupt for a clean exit (status 0).
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("Server stopped.")


class _EchoHandler(logging.Handler):
    """Log records (model loading, uvicorn, one line per request) on the current stderr, via click."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # noqa: BLE001 - logging must never break serving
            self.handleError(record)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
