# syntax=docker/dockerfile:1
# Build stage: a wheel of the engine and its dependencies, compiled where needed.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md ./
COPY party_engine ./party_engine
COPY workers ./workers
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Run stage: only the wheels, a non-root user, and a health check on /healthz.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 party
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER party
# The data folder (PARTY_DATA_DIR, relative to here): the archive's default place. Made by
# `party` so that a volume mounted on it is theirs too (docker-compose.yml's archive-data).
WORKDIR /home/party
RUN mkdir -p data
ENV PARTY_HOST=0.0.0.0 PARTY_PORT=8000 PARTY_LOG_FORMAT=json PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PARTY_PORT\"]}/healthz', timeout=2)"
ENTRYPOINT ["party-engine"]
CMD ["serve"]
