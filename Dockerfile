# bedboard: one image for `bedboard serve`, `bedboard migrate` and the admin commands.
#
#   docker build -t bedboard .
#   docker run --rm -p 8080:8080 -e BEDBOARD_DATABASE_URL=postgresql://... \
#       -e BEDBOARD_SECRET_KEY=... bedboard
#
# See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel carries everything bedboard reads at run time (migrations, templates,
# static files, county data), so the source is only needed while installing.
# .dockerignore limits the build context to what `pip install .` needs.
COPY . /src
RUN pip install /src && rm -rf /src

# Non-root: PostgreSQL's initdb also refuses to run as root, which matters if the
# image is used without BEDBOARD_DATABASE_URL (embedded database in the data dir).
RUN useradd --system --uid 10001 --user-group --create-home \
        --home-dir /var/lib/bedboard --shell /usr/sbin/nologin bedboard

# The default bind address (127.0.0.1) is unreachable from outside a container.
ENV BEDBOARD_HOST=0.0.0.0 \
    BEDBOARD_PORT=8080 \
    BEDBOARD_DATA_DIR=/var/lib/bedboard

USER 10001:10001
WORKDIR /var/lib/bedboard
EXPOSE 8080

# Liveness only (no database check), so a database outage does not mark every app
# container unhealthy. The slim image has no curl; use Python's urllib.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BEDBOARD_PORT', '8080') + '/healthz', timeout=4)"]

CMD ["bedboard", "serve"]
