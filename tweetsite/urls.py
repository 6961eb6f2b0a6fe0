from django.contrib import admin
from django.urls import path

from feed import api, pages
from streamer import views as streamer_views

urlpatterns = [
    path("", pages.home, name="home"),
    path("topics/<slug:slug>/", pages.topic_page, name="topic-page"),
    path("topics/<slug:slug>/wall/", pages.topic_wall, name="topic-wall"),
    path("topics/<slug:slug>/moderate/", pages.topic_moderate, name="topic-moderate"),
    path("topics/<slug:slug>/logo", pages.topic_logo, name="topic-logo"),
    path("api/time/", api.server_time, name="api-time"),
    path("api/topics/", api.topics, name="api-topics"),
    path("api/topics/<slug:slug>/tweets/", api.topic_tweets, name="api-topic-tweets"),
    path("api/topics/<slug:slug>/moderation/", api.topic_moderation, name="api-topic-moderation"),
    path("api/topics/<slug:slug>/status/", api.topic_status, name="api-topic-status"),
    path("api/topics/<slug:slug>/queue/", api.topic_queue, name="api-topic-queue"),
    path("api/topics/<slug:slug>/decisions/", api.topic_decisions, name="api-topic-decisions"),
    path("healthz", streamer_views.health, name="health"),
    path("admin/", admin.site.urls),
]
