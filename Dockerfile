# syntax=docker/dockerfile:1
# Build stage: wheels for the app and its dependencies (compilers stay out of the final image).
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY providers ./providers
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

# Runtime stage: only the wheels, a non-root user, `python -m bot`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    CANVASBOT_DATABASE_URL=sqlite:////data/canvasbot.sqlite3
RUN useradd --create-home --uid 10001 canvasbot && mkdir /data && chown canvasbot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
USER canvasbot
WORKDIR /home/canvasbot
VOLUME ["/data"]
# Healthy when the database opens and the configuration is sound (`canvasbot doctor`).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["canvasbot", "doctor", "--quiet"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
