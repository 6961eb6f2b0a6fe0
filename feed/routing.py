from django.urls import path

from feed.consumers import TopicConsumer

websocket_urlpatterns = [
    path("ws/topics/<slug:slug>/", TopicConsumer.as_asgi()),
]
