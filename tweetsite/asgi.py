"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Run with uvicorn (production, see README) or Daphne (`make run`).
"""

import gc
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

# Fan-out allocates a little per frame per socket, so the cyclic GC ran often and walked every
# long-lived object (Django, the URL conf, thousands of sockets) each time: py-spy put ~13% of the
# web process's loop there. Freeze what startup built, and collect the young generation less often.
gc.freeze()
gc.set_threshold(50_000, 20, 100)
