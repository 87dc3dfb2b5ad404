"""The zoolab hub server: the embedded store over the Hugging Face Hub HTTP API (FastAPI + uvicorn).

``create_app(store)`` builds the ASGI app; ``serve(home, host=, port=)`` runs it (``zoolab hub serve``).
"""

from zoolab.hub.server.app import create_app
from zoolab.hub.server.context import DEFAULT_MAX_BODY_BYTES, ServerConfig
from zoolab.hub.server.serve import serve

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerConfig", "create_app", "serve"]
