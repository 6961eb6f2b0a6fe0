# tweetsite: `make run` to try it, `make test` for the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs twice: on SQLite, then on the local PostgreSQL (trust auth).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/tweetsite

.PHONY: run test test-sqlite test-postgres lint bench drill system-deps clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Debian packages the tests drive: Chromium for the browser tests (and an emoji font for the README
# screenshots), docker-compose to validate the compose file, redis-server for pytest-redis.
# Installed once; `apt-get` needs root.
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
system-deps: /usr/bin/chromium /usr/bin/docker-compose /usr/bin/redis-server $(EMOJI_FONT)
/usr/bin/chromium /usr/bin/docker-compose /usr/bin/redis-server $(EMOJI_FONT):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium docker-compose redis-server \
		fonts-noto-color-emoji >/dev/null

# Viewers send nothing: a frame over 4 KB is refused from its header, never buffered (Daphne's
# default would take 1 MiB first), as the Procfile's --ws-max-size 4096. The message bound stays
# large: autobahn applies it to what Daphne sends too, and at 4 KB every larger frame failed.
run: $(BIN)/.installed
	@DJANGO_DEBUG=1 STREAM_EMBEDDED=1 $(BIN)/python manage.py migrate --verbosity 0
	@DJANGO_DEBUG=1 $(BIN)/python manage.py demo_setup
	@echo "tweetsite: open http://$(HOST):$(PORT)/   (admin: http://$(HOST):$(PORT)/admin/, user admin, password admin)"
	@echo "tweetsite: no REDIS_URL, so the worker runs inside the web process: X $$( [ -n "$$X_BEARER_TOKEN" ] && echo live || echo replayed)," \
		"Bluesky $$( [ -n "$$BLUESKY_JETSTREAM_URL" ] && echo live || echo replayed), Mastodon from the admin's instances, replayed while there is none. Ctrl-C stops."
	@( sleep 2; curl -s -o /dev/null http://$(HOST):$(PORT)/healthz || true ) &
	DJANGO_DEBUG=1 STREAM_EMBEDDED=1 exec $(BIN)/daphne -b $(HOST) -p $(PORT) \
		--websocket-max-frame-size 4096 --websocket-max-message-size 16777216 tweetsite.asgi:application

# UPDATE_SCREENSHOTS=1 make test rewrites docs/screenshot-*.png from the browser test.
test: $(BIN)/.installed system-deps
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite:
	$(BIN)/python -m pytest

test-postgres:
	DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest

# The fan-out benchmark (bench/): PostgreSQL on 127.0.0.1:5432 and redis-server, as for the tests.
# Under 10 minutes; BENCH_ARGS="--quick" for a short run, "--scenario 1 --profile" for py-spy.
bench: $(BIN)/.installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Fault drill: real Redis, PostgreSQL, the X, Bluesky and Mastodon emulators, worker and uvicorn; each
# fault injected in turn while page-like viewers watch. About 4 minutes (a 429 makes the worker wait
# 60 s, as X requires).
drill: $(BIN)/.installed
	$(BIN)/python -m drill

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 tmp
