"""The error a serving request ends with: an HTTP status and a TF Serving style message."""

from __future__ import annotations


class ServingError(Exception):
    """A request the server refuses, answered as ``{"error": message}`` with ``status``.

    TensorFlow Serving answers every failed REST call with a JSON object holding one
    ``error`` string; the status tells the kind: 400 for a malformed request, 404 for an
    unknown model, version or signature, 405 for a wrong method, 413 for a body over the
    size limit, 500 for a failure inside the server.

    Args:
        status: the HTTP status code (4xx for the client's mistakes, 5xx for the server's).
        message: what was wrong and, where possible, how to fix it.

    Example:
        >>> error = ServingError(404, "Servable not found for request: Latest(nope)")
        >>> error.status, error.to_json()
        (404, {'error': 'Servable not found for request: Latest(nope)'})
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)

    def to_json(self) -> dict:
        """The response body, ``{"error": message}``."""
        return {"error": self.message}
