# The bot (Telegram channel) as a container. Built by docker-compose.yml, which also runs Rasa.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns nothing but its state: the code and content are root-owned, read-only.
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin bot

WORKDIR /app

# Dependencies first (a layer that changes only with pyproject.toml), then the code.
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY nlu ./nlu
RUN pip install . && pip check
COPY responses ./responses

# The checkout in /app is what runs (its bot/ and nlu/ come first on the path), so the settings'
# defaults point at /app/nlu, /app/responses (bind-mounted by compose for staff edits) and the
# UI catalogs in /app/bot/locale. State and the embedded model cache go to the /data volume.
ENV PYTHONPATH=/app \
    STATE_DB_PATH=/data/state.sqlite3 \
    MODEL_CACHE_DIR=/data/models
RUN mkdir -p /data/models && chown -R bot:bot /data
VOLUME ["/data"]

USER bot

# Healthy once the bot has opened its state database (it does so after loading answers and model).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sqlite3; p = os.environ['STATE_DB_PATH']; sqlite3.connect(f'file:{p}?mode=ro', uri=True).execute('select 1')"]

CMD ["newcomer-bot", "run"]
