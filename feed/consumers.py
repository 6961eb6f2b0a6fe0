"""WebSocket consumers: thin. The topic check, the hub and the rules for what clients may send."""

import logging

from channels.generic.websocket import AsyncWebsocketConsumer

from feed.hub import CLOSE_UNKNOWN_TOPIC, get_hub
from feed.viewer import ViewerSocket

logger = logging.getLogger(__name__)

CLOSE_UNEXPECTED_FRAME = 4400
# Viewers get frames through the hub; an alias that names no layer gives the consumer no channel of
# its own, so a connect or disconnect costs no channel-layer round trip.
NO_CHANNEL_LAYER = "none: sockets are fed by the per-process hub"
RAW_SEND_SCOPE_KEY = "tweetsite.server_send"


class TopicConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = NO_CHANNEL_LAYER

    async def connect(self) -> None:
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        self.viewer: ViewerSocket | None = None
        hub = get_hub()
        active = await hub.topic_is_active(self.slug)
        # Accept before closing: a close before accept is an HTTP 403, and the page could not tell
        # "no such topic" from a network error.
        await self.accept()
        if not active:
            await self.close(code=CLOSE_UNKNOWN_TOPIC)
            return
        send = self.scope.get(RAW_SEND_SCOPE_KEY, self.base_send)
        self.viewer = ViewerSocket(send, label=f"{self.slug}:{id(self):x}")
        await hub.attach(self.slug, self.viewer)

    async def disconnect(self, code: int) -> None:
        if self.viewer is not None:
            get_hub().detach(self.slug, self.viewer)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The feed is one-way: anything a client sends is unexpected and costs the server.
        logger.info("viewer %s sent a frame; closing", self.slug)
        await self.close(code=CLOSE_UNEXPECTED_FRAME)
