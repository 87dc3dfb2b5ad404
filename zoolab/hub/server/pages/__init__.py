"""Server-rendered web pages of the hub (Jinja2 templates, one stylesheet, one small script).

See :mod:`zoolab.hub.server.pages.routes`; the app includes :data:`router` after the API routes.
"""

from zoolab.hub.server.pages.routes import router

__all__ = ["router"]
