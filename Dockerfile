# glance-kafka: stream workers and bridge. The Helm chart (helm/glance-kafka) runs this image
# with a read-only root filesystem as UID/GID 10001.
#   docker build -t glance-kafka:0.1.0 .

# Build stage: install the package into a virtualenv, as an unprivileged user.
FROM python:3.11-slim AS build
RUN groupadd --gid 10001 glance \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin glance \
 && mkdir -p /opt/venv /src \
 && chown 10001:10001 /opt/venv /src
USER 10001:10001
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HOME=/tmp
WORKDIR /src
COPY --chown=10001:10001 pyproject.toml README.md ./
COPY --chown=10001:10001 avro ./avro
COPY --chown=10001:10001 producers ./producers
COPY --chown=10001:10001 streams ./streams
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install '.[streams,bridge,registry]' \
 && /opt/venv/bin/glance-kafka --help >/dev/null

# Runtime stage: the virtualenv, owned by root (the service cannot modify its own code).
FROM python:3.11-slim
RUN groupadd --gid 10001 glance \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin glance \
 && mkdir -p /var/lib/glance-kafka \
 && chown 10001:10001 /var/lib/glance-kafka
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /var/lib/glance-kafka
USER 10001:10001
EXPOSE 9108 6066
ENTRYPOINT ["glance-kafka"]
CMD ["stream", "--host", "0.0.0.0", "--metrics-port", "9108", "--web-port", "6066", \
     "--data-dir", "/var/lib/glance-kafka"]
