FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only-not-a-real-secret python manage.py collectstatic --noinput --verbosity 0
# Uploads (walls' logos): a named volume mounted here takes this owner, so the app may write to it.
RUN mkdir -p /srv/media && chown nobody /srv/media
USER nobody
EXPOSE 8000
CMD ["uvicorn", "tweetsite.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--ws-max-size", "4096", "--lifespan", "off", "--no-access-log"]
