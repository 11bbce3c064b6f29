"""``GuardedH11Protocol``: uvicorn's HTTP/1.1 protocol with a header timeout, a connection bound and a firm shutdown."""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, hardened against slow and numerous clients.

    uvicorn times out idle keep-alive connections, but not a client that connects and
    sends its request headers slowly (or never), so a few hundred such sockets are held
    for good ("slowloris"); it answers 503 past ``limit_concurrency`` requests but keeps
    every connection open; and at shutdown it waits ``timeout_graceful_shutdown`` seconds
    for requests still waiting for their body. This subclass changes exactly that:

    - **headers**: a connection has ``read_timeout`` seconds, from when it opens (or from the
      first byte of its next request on a keep-alive connection), to deliver complete request
      headers; then it is answered ``408 Request Timeout`` (a JSON ``{"error": ...}``, as every
      answer of the server) and closed. The body has its own deadline in the app
      (:func:`~mtlzoo.tools.serving.rest_app.create_app`'s ``read_timeout``).
    - **connections**: past ``max_connections`` open connections a new one is answered
      ``503 Service Unavailable`` and closed at once, before anything is read, so sockets
      and memory stay bounded whatever clients do.
    - **shutdown**: on SIGTERM / stop, connections whose request is still waiting for body
      bytes, and responses stalled on a client that does not read, are closed at once
      instead of holding the exit; requests being answered finish as before.

    Args:
        config, server_state, app_state, _loop: as :class:`uvicorn.protocols.http.h11_impl.H11Protocol`
            (uvicorn passes them).
        read_timeout: seconds to deliver the request headers.
        max_connections: the most connections open at once (``None``: unbounded).

    Example:
        >>> import functools, uvicorn
        >>> protocol = functools.partial(GuardedH11Protocol, read_timeout=10.0, max_connections=256)
        >>> config = uvicorn.Config(app, http=protocol)                       # doctest: +SKIP
    """

    def __init__(self, config, server_state, app_state, _loop=None, *, read_timeout: float = 30.0,
                 max_connections: int | None = None):
        super().__init__(config, server_state, app_state, _loop)
        self.read_timeout = float(read_timeout)
        self.max_connections = None if max_connections is None else int(max_connections)
        self._header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            self._answer_and_close(503, f"too many connections (the server takes {self.max_connections} at "
                                        "once); retry later")
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        if self._header_timer is None and (before is None or before.response_complete):
            self._arm()  # the first bytes of the next request on a keep-alive connection
        super().data_received(data)
        if self.cycle is not before:  # its headers are complete: the app's body deadline takes over
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        super().shutdown()
        cycle = self.cycle
        if cycle is None or cycle.response_complete or self.transport.is_closing():
            return
        waiting_for_body = cycle.more_body and not cycle.response_started
        stalled_reader = cycle.response_started and self.flow.write_paused
        if waiting_for_body or stalled_reader:
            self.transport.close()  # the app sees a disconnect and ends at once

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.read_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        self._answer_and_close(408, f"the request headers did not arrive within {self.read_timeout:g} s")

    def _answer_and_close(self, status: int, message: str) -> None:
        """Write a whole JSON error response on the raw transport (no request was parsed) and close."""
        body = json.dumps({"error": message}).encode()
        reason = {408: "Request Timeout", 503: "Service Unavailable"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
                "connection: close\r\n\r\n").encode("ascii")
        self.transport.write(head + body)
        self.transport.close()
