"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Run with uvicorn (production, see README) or Daphne (`make run`).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tweetsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from feed.routing import websocket_urlpatterns  # noqa: E402
from feed.security import ConnectionsPerAddressLimit  # noqa: E402
from feed.server_send import ServerSendMiddleware  # noqa: E402
from streamer.embedded import EmbeddedWorkerMiddleware  # noqa: E402
from tweetsite.gc_tuning import freeze_startup_heap  # noqa: E402

application = ServerSendMiddleware(
    ConnectionsPerAddressLimit(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                "websocket": AllowedHostsOriginValidator(
                    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
                ),
            }
        )
    )
)
if settings.STREAM_EMBEDDED:
    application = EmbeddedWorkerMiddleware(application)

freeze_startup_heap()  # last: everything start-up built is now loaded
