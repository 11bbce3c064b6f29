"""TensorFlow Serving's REST API as a Starlette app over a :class:`ModelRepository`.

Routes (TF Serving's URL forms, parsed inside one Starlette route because the
``name:predict`` form does not fit Starlette's path patterns):

- ``GET  /v1/models/<name>[/versions/<v>]``           model status
- ``GET  /v1/models/<name>[/versions/<v>]/metadata``  signature defs
- ``POST /v1/models/<name>[/versions/<v>]:predict``   predictions, row or columnar format

Every failure is answered as ``{"error": "..."}``: 400 malformed JSON or bad inputs (numbers
out of the input dtype's range and absurd version numbers included), 404 unknown model,
version, signature or URL, 405 wrong method, 408 a body not received within the read
timeout, 413 body over the limit, 500 an unexpected failure (logged with its traceback;
the server keeps serving). Parsing, prediction and JSON encoding run in worker threads
(at most ``predict_threads`` at once, in order), off the event loop; a single numeric tensor
is parsed by :mod:`~mtlzoo.tools.serving.fast_json`.
"""

from __future__ import annotations

import json
import logging
import os
import re

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mtlzoo.tools.serving.fast_json import fast_predict
from mtlzoo.tools.serving.serving_error import ServingError

logger = logging.getLogger(__name__)

#: Default largest accepted request body: 32 MiB (a batch of 64 28x28 images as JSON is about 0.5 MB).
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
#: Default seconds a client has to send a request body after its headers (and the headers after connecting).
DEFAULT_READ_TIMEOUT = 30.0
#: Longest model name looked up (longer ones are answered 404 without echoing them whole).
_MAX_NAME = 256
#: Past the limit, at most this many more bytes are read and dropped so the client sees the 413 answer.
_DRAIN_BYTES = 64 * 1024 * 1024

#: Every method reaches the route, so a wrong one gets TF Serving's JSON error with an Allow header.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_URL = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                  r"(?:(?P<metadata>/metadata)|:(?P<method>[A-Za-z]+))?$")


def create_app(repository, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
               read_timeout: float | None = DEFAULT_READ_TIMEOUT, predict_threads: int | None = None) -> Starlette:
    """A Starlette app answering TensorFlow Serving's REST API for ``repository``.

    Args:
        repository: a :class:`~mtlzoo.tools.serving.ModelRepository` (or anything with its
            ``status``, ``metadata`` and ``predict`` methods).
        max_request_bytes: the largest request body accepted; a larger one (by its
            Content-Length or by the bytes actually streamed) is answered with 413.
        read_timeout: seconds a client has to send the whole request body once its headers
            arrived (a body that announces a Content-Length and stalls, or trickles, is
            answered with 408 and the connection closed); ``None``: no limit. The headers'
            own deadline is the server's (:class:`~mtlzoo.tools.serving.GuardedH11Protocol`).
        predict_threads: predict requests parsed and answered at once (default: the CPU count,
            at least 2); the others wait their turn in order. Parsing holds the GIL, so more
            threads than cores only make them take turns every few milliseconds, and the event
            loop (all sockets) waits behind them: under 50 concurrent clients that multiplied
            the p99 latency.

    Returns:
        The ASGI app, to run with uvicorn (see :class:`~mtlzoo.tools.serving.ModelServer`).

    Example:
        >>> import uvicorn
        >>> app = create_app(ModelRepository("exports"), max_request_bytes=8 << 20)  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8501)                           # doctest: +SKIP
    """
    limit = int(max_request_bytes)
    if limit <= 0:
        raise ValueError(f"max_request_bytes must be positive, got {max_request_bytes}")
    if read_timeout is not None and not read_timeout > 0:
        raise ValueError(f"read_timeout must be positive seconds (or None), got {read_timeout}")
    threads = max(2, os.cpu_count() or 2) if predict_threads is None else int(predict_threads)
    if threads < 1:
        raise ValueError(f"predict_threads must be at least 1, got {predict_threads}")
    limiter = anyio.CapacityLimiter(threads)

    async def models(request):
        try:
            return await _dispatch(request, repository, limit, read_timeout, limiter)
        except ServingError as error:
            return _error(error.status, error.message, close=error.status in (408, 413))
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read an answer
        except Exception as error:  # noqa: BLE001 - a failing request must not take the server down
            logger.exception("unexpected error answering %s %s", request.method, request.url.path)
            return _error(500, f"internal error answering {request.method} {_cut(request.url.path)}: "
                               f"{type(error).__name__}: {_cut(str(error), 300)}")

    async def http_error(request, error: HTTPException):
        message = f"no such endpoint: {request.method} {_cut(request.url.path)}; the API is under /v1/models/<name>"
        return _error(error.status_code, message if error.status_code == 404 else str(error.detail))

    async def server_error(request, error: Exception):
        return _error(500, f"internal error: {type(error).__name__}: {error}")

    return Starlette(routes=[Route("/v1/models/{rest:path}", models, methods=_METHODS)],
                     exception_handlers={HTTPException: http_error, Exception: server_error})


async def _dispatch(request, repository, limit: int, read_timeout, limiter) -> Response:
    path = request.path_params["rest"]
    match = _URL.match(path)
    if match is None:
        raise ServingError(404, f"Malformed request: {request.method} {_cut(request.url.path)}; expected "
                                "/v1/models/<name>[/versions/<n>] followed by nothing, /metadata or :predict")
    name, version, method = match["name"], match["version"], match["method"]
    if len(name) > _MAX_NAME:
        raise ServingError(404, f"Servable not found for request: no model is named '{_cut(name)}' "
                                f"({len(name)} characters)")
    if match["label"] is not None:
        raise ServingError(404, f"version labels are not served (got label '{_cut(match['label'], 40)}'); "
                                "use /v1/models/<name>/versions/<n>")
    if method is not None and method != "predict":
        raise ServingError(404, f"Malformed request: ':{_cut(method, 40)}' is not served; mtlzoo serve answers "
                                "':predict' (':classify' and ':regress' need Classify/Regress signatures)")
    allowed = ("POST",) if method else ("GET", "HEAD")
    if request.method not in allowed:
        what = ":predict" if method else ("metadata" if match["metadata"] else "model status")
        return _error(405, f"{request.method} is not allowed for {what}; use {allowed[0]} "
                           f"{_cut(request.url.path)}",
                      headers={"Allow": ", ".join(allowed)})
    if method is None:
        answer = repository.metadata if match["metadata"] else repository.status
        return JSONResponse(await run_in_threadpool(answer, name, version))
    try:
        with anyio.fail_after(read_timeout):
            body = await _read_body(request, limit)
    except TimeoutError:
        raise ServingError(408, f"the request body did not arrive within {read_timeout:g} s; send it at once "
                                "(or start the server with a larger --read-timeout)") from None
    content = await anyio.to_thread.run_sync(_predict, repository, name, version, body, limiter=limiter)
    return Response(content, media_type="application/json")


def _predict(repository, name: str, version, body: bytes) -> bytes:
    """Parse the body, predict and encode the answer (in a worker thread); one numeric tensor takes the
    fast path (:func:`~mtlzoo.tools.serving.fast_json.fast_predict`)."""
    answer = fast_predict(repository, name, version, body)
    if answer is not None:
        return json.dumps(answer, allow_nan=True, separators=(",", ":")).encode("utf-8")
    try:
        request = json.loads(body)
    except UnicodeDecodeError:
        raise ServingError(400, "JSON Parse error: the request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ServingError(400, f"JSON Parse error: {error.msg} at line {error.lineno} column {error.colno} "
                                f"(offset {error.pos})") from None
    except RecursionError:
        raise ServingError(400, "JSON Parse error: the request nests lists or objects too deeply") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits (Python's int-parsing limit)
        if "digits" in str(error):
            raise ServingError(400, "JSON Parse error: a number has more than 4300 digits, out of the range of "
                                    "every input dtype") from None
        raise ServingError(400, f"JSON Parse error: {str(error)[:200]}") from None
    answer = repository.predict(name, version, request)
    # NaN / Infinity are written as such, like TF Serving does.
    return json.dumps(answer, allow_nan=True, separators=(",", ":")).encode("utf-8")


async def _read_body(request, limit: int) -> bytes:
    """The request body, refusing (413) one over ``limit`` bytes, announced or streamed (chunked).

    A refused body is still read, up to ``_DRAIN_BYTES`` more, and dropped: closing a socket
    with unread data resets the connection, and the client would never see the 413 answer.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()):
            raise ServingError(400, f"invalid Content-Length header {declared[:40]!r}")
        if len(declared) > 18:  # more than an exabyte
            raise ServingError(413, _too_large(f"a Content-Length of {len(declared)} digits", limit))
    too_large = declared is not None and int(declared) > limit
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + _DRAIN_BYTES:
            break
        too_large = too_large or size > limit
        if not too_large:
            chunks.append(chunk)
    if too_large:
        what = f"{int(declared)} bytes" if declared is not None else f"more than {limit} bytes"
        raise ServingError(413, _too_large(what, limit))
    return b"".join(chunks)


def _cut(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters for an error message."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def _too_large(size: str, limit: int) -> str:
    return (f"request body too large: {size}, the limit is {limit} bytes ({limit / 2 ** 20:.3g} MiB); "
            "send fewer instances per request or start the server with a larger --max-request-mb")


def _error(status: int, message: str, close: bool = False, headers: dict | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if close:
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status, headers=headers)
