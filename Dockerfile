# syntax=docker/dockerfile:1
# Build stage: install the locked dependencies and Cameo into a virtualenv.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/runtime.lock requirements/runtime.lock
RUN python -m venv /opt/cameo \
    && /opt/cameo/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY bot bot
COPY cogs cogs
COPY storage storage
RUN /opt/cameo/bin/pip install --no-cache-dir --no-deps --no-build-isolation .

# Runtime stage: only the virtualenv, run as an unprivileged user, data on a volume.
FROM python:3.11-slim
# /images: where compose.yaml mounts the pictures its processes share (a new volume takes this
# folder's owner, so Cameo can write there).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin cameo \
    && mkdir /data /images && chown cameo /data /images
COPY --from=build /opt/cameo /opt/cameo
ENV PATH=/opt/cameo/bin:$PATH \
    CAMEO_DATA_DIR=/data \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER cameo
WORKDIR /data
VOLUME ["/data"]
# `cameo run` shuts down cleanly on SIGTERM (what `docker stop` sends).
STOPSIGNAL SIGTERM
# Healthy once connected to Discord with its database answering (/healthz on loopback).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s CMD ["cameo", "health"]
ENTRYPOINT ["cameo"]
CMD ["run"]
