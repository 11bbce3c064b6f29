"""TensorFlow-Serving-compatible REST serving of exported SavedModels (``mtlzoo serve``).

``ModelRepository`` loads ``DIR/<model_name>/<version>/`` SavedModels, ``create_app`` answers
TF Serving's REST API for it (Starlette), and ``ModelServer`` runs that app with uvicorn through
``GuardedH11Protocol`` (header timeout, connection bound, firm shutdown).

Example:
    >>> from mtlzoo.tools.serving import ModelServer
    >>> with ModelServer("exports", port=0) as server:   # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:40123
"""

from mtlzoo.tools.serving.guarded_protocol import GuardedH11Protocol
from mtlzoo.tools.serving.model_repository import ModelRepository
from mtlzoo.tools.serving.model_server import DEFAULT_MAX_CONNECTIONS, ModelServer
from mtlzoo.tools.serving.rest_app import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_READ_TIMEOUT, create_app
from mtlzoo.tools.serving.servable import Servable
from mtlzoo.tools.serving.serving_error import ServingError
from mtlzoo.tools.serving.signature import Signature

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_REQUEST_BYTES", "DEFAULT_READ_TIMEOUT", "GuardedH11Protocol",
           "ModelRepository", "ModelServer", "Servable", "ServingError", "Signature", "create_app"]
