"""A uvicorn server answering TensorFlow Serving's REST API for a directory of exported models."""

from __future__ import annotations

import functools
import gc
import socket
import threading
import time

import uvicorn

from mtlzoo.tools.serving.guarded_protocol import GuardedH11Protocol
from mtlzoo.tools.serving.model_repository import ModelRepository
from mtlzoo.tools.serving.rest_app import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_READ_TIMEOUT, create_app

#: Connections waiting to be accepted (uvicorn's default).
_BACKLOG = 2048
#: Default most connections open at once (each holds a socket and up to a request body).
DEFAULT_MAX_CONNECTIONS = 512


class ModelServer:
    """Serve every model folder of ``directory`` over HTTP, like ``tensorflow_model_server --rest_api_port``.

    The models are loaded and the port is bound when the server is created, so ``.url``
    is known (also with ``port=0``, which picks a free port) and a busy port fails at
    once. :meth:`serve` blocks until SIGINT or SIGTERM, then shuts down gracefully:
    it stops accepting connections and finishes the requests in flight. :meth:`start`
    runs the same server in a background thread and returns once it accepts
    connections; :meth:`stop` (or leaving the ``with`` block) shuts it down gracefully.
    A server runs once.

    Slow and numerous clients are bounded (:class:`GuardedH11Protocol`): a client has
    ``read_timeout`` seconds for its request headers and as long again for the body, then
    gets 408 and is disconnected; past ``max_connections`` open connections a new one gets
    503 and is closed; at shutdown, connections still waiting for a body (or not reading
    their answer) are closed at once, so SIGTERM exits within about a second plus the
    time the requests being computed need (at most ``graceful_timeout``).

    Args:
        directory: the models, ``directory/<model_name>/<version>/saved_model.pb``.
        host: the address to listen on; the default, loopback, is reachable from this
            machine only (the server has no authentication).
        port: the TCP port; 0 picks a free one (see ``.port`` and ``.url``).
        max_request_bytes: the largest request body accepted (413 beyond it).
        log_level: uvicorn's log level (``"info"`` logs one line per request). Records go to the
            ``uvicorn.error`` and ``uvicorn.access`` loggers; attach a handler to see them.
        graceful_timeout: seconds to wait for requests in flight at shutdown before
            cancelling them.
        read_timeout: seconds a client has to send its request headers, and then its body.
        max_connections: the most connections open at once.
        predict_threads: predict requests parsed and answered at once (default: the CPU count, at
            least 2; see :func:`~mtlzoo.tools.serving.create_app`).

    Example:
        >>> import requests
        >>> with ModelServer("exports", port=0, log_level="warning") as server:      # doctest: +SKIP
        ...     requests.get(f"{server.url}/v1/models/multimnist_lenet").json()
        {'model_version_status': [{'version': '1', 'state': 'AVAILABLE', ...}]}
    """

    def __init__(self, directory, host: str = "127.0.0.1", port: int = 8501,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, log_level: str = "info",
                 graceful_timeout: float = 10.0, read_timeout: float = DEFAULT_READ_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, predict_threads: int | None = None):
        if not read_timeout > 0 or int(max_connections) < 1:
            raise ValueError(f"read_timeout must be positive seconds and max_connections at least 1, got "
                             f"{read_timeout} and {max_connections}")
        self.host = host
        self._socket = _bind(host, port)  # first: a busy port fails before the models load
        self.port = self._socket.getsockname()[1]
        try:
            self.repository = ModelRepository(directory)
            self.app = create_app(self.repository, max_request_bytes=max_request_bytes, read_timeout=read_timeout,
                                  predict_threads=predict_threads)
        except BaseException:
            self._socket.close()
            raise
        # log_config=None: uvicorn's loggers ("uvicorn.error", "uvicorn.access") keep the application's
        # logging setup instead of getting handlers bound to the sys.stderr of the moment.
        protocol = functools.partial(GuardedH11Protocol, read_timeout=read_timeout,
                                     max_connections=int(max_connections))
        config = uvicorn.Config(self.app, log_level=log_level, access_log=log_level in ("debug", "trace", "info"),
                                log_config=None, backlog=_BACKLOG, timeout_graceful_shutdown=graceful_timeout,
                                lifespan="off", http=protocol)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._ran = False

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8501``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve(self) -> None:
        """Serve in this thread until SIGINT / SIGTERM (then shut down gracefully).

        Meant for a process that only serves (``mtlzoo serve``): it first moves every object
        alive (TensorFlow's and the models') out of the garbage collector's reach with
        :func:`gc.freeze`. Parsing a JSON request creates many small lists, which triggers
        collections, and each full collection would otherwise walk those few hundred
        thousand objects: freezing makes a batch-64 MultiMNIST request about 4x cheaper to parse.
        """
        self._claim()
        gc.collect()
        gc.freeze()
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 30.0) -> "ModelServer":
        """Serve in a background thread; return once the server accepts connections.

        Raises:
            RuntimeError: the server did not come up within ``timeout`` seconds.
        """
        self._claim()
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"mtlzoo-serve-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop(timeout=5)
                raise RuntimeError(f"the model server on {self.url} did not start within {timeout} s; "
                                   "see the log above")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Shut down gracefully (requests in flight are answered) and wait for the server thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._socket.close()

    @property
    def in_flight(self) -> int:
        """The number of requests being answered right now."""
        return len(self._server.server_state.tasks)

    @property
    def running(self) -> bool:
        """Whether the server accepts connections."""
        return self._server.started and not self._server.should_exit

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _claim(self) -> None:
        if self._ran:
            raise RuntimeError("a ModelServer runs once; create a new one to serve again")
        self._ran = True


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, with a clear error when that fails."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise OSError(f"cannot listen on {host}:{port}: unknown host ({error.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}; choose another port "
                      "(0 picks a free one)") from None
    sock.listen(_BACKLOG)  # from now on, connections wait in the backlog until the server accepts them
    return sock
