# poigate container image. Build and run (README.md, "Packages"):
#   docker build -t poigate .
#   docker run -d -p 8080:8080 -v poigate-data:/var/lib/poigate poigate
# Not built in CI (no container engine there); .ci/run lints this file with hadolint and
# the packaging tests run the image's command line and health check against a real process.

# Build stage: the Rust toolchain on Debian 12, the same release as the runtime image, so
# the binary links against the glibc it runs with.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p poigate

# Runtime stage: the binary, CA roots for HTTPS webhook targets, nothing else (no shell
# tools for HTTP: the health check is `poigate healthcheck`).
FROM debian:bookworm-slim
# Unpinned on purpose: bookworm's ca-certificates moves only with security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 poigate \
    && useradd --system --uid 10001 --gid poigate --home-dir /var/lib/poigate \
        --no-create-home --shell /usr/sbin/nologin poigate \
    && install -d -o poigate -g poigate -m 0750 /var/lib/poigate
COPY --from=build /src/target/release/poigate /usr/local/bin/poigate

# The gateway's database (poigate.db, SQLite): keep it on a volume.
VOLUME ["/var/lib/poigate"]
ENV POIGATE_LISTEN=0.0.0.0:8080 \
    POIGATE_DATA_DIR=/var/lib/poigate
EXPOSE 8080
# Numeric, so runtimes that require a non-root user (runAsNonRoot) can tell.
USER 10001:10001
WORKDIR /var/lib/poigate
# Asks /healthz on the POIGATE_LISTEN port from inside the container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["poigate", "healthcheck"]
# poigate drains on SIGTERM (what `docker stop` sends).
STOPSIGNAL SIGTERM
ENTRYPOINT ["poigate"]
CMD ["serve"]
