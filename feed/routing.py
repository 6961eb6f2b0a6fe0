from django.urls import path

from feed.consumers import TopicConsumer
from feed.moderation_socket import ModerationConsumer

websocket_urlpatterns = [
    path("ws/topics/<slug:slug>/", TopicConsumer.as_asgi()),
    path("ws/topics/<slug:slug>/moderate/", ModerationConsumer.as_asgi()),
]
