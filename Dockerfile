# Generated from openapi.yaml by `pizza-api render`; do not edit.
# Build: docker build -t pizza-api:1.0.0 .
# The builder stage installs the project and its pinned dependencies into a venv;
# the runtime stage copies only that venv and the spec.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY . /src
RUN /opt/venv/bin/pip install --no-cache-dir --constraint constraints.txt ".[postgres,mysql]"

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    APP_HOST=0.0.0.0 \
    APP_PORT=8080 \
    PIZZA_API_SPEC=/app/openapi.yaml
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent app \
    && mkdir -p /app/data \
    && chown 10001:10001 /app/data
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY openapi.yaml /app/openapi.yaml
USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 8080
# python:3.11-slim has no curl; the standard library fetches the liveness probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('APP_PORT', '8080') + '/health/live', timeout=3)"]
CMD ["pizza-api", "serve"]
