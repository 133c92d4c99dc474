# syntax=docker/dockerfile:1
# partybus in a container: a release build on the official Rust image, run
# on Debian slim as an unprivileged user. See docs/operations.md, "Install
# and run as a service".
#
#   docker build --build-arg PARTYBUS_COMMIT=$(git rev-parse --short=7 HEAD) -t partybus .
#   docker run -d -p 9000:9000 -v partybus-data:/var/lib/partybus partybus
#
# The rust image's version is the workspace's rust-version (Cargo.toml;
# scripts/check_msrv.py checks it against Cargo.lock).

FROM rust:1.89-slim-bookworm AS builder
WORKDIR /src
# .git is not copied (.dockerignore): build.rs takes the commit from these
# instead, and says `unknown` without them.
ARG PARTYBUS_COMMIT
ARG PARTYBUS_COMMIT_DATE
COPY . .
# The registry and target dir are BuildKit caches: a rebuild after a source
# change recompiles partybus only, not its dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin partybus \
    && install -m 0755 target/release/partybus /usr/local/bin/partybus

FROM debian:bookworm-slim
# No packages needed: SQLite is compiled in and no TLS is spoken.
RUN groupadd --system --gid 10001 partybus \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/partybus \
        --no-create-home --shell /usr/sbin/nologin partybus \
    && install -d -o partybus -g partybus -m 0750 /var/lib/partybus
COPY --from=builder /usr/local/bin/partybus /usr/local/bin/partybus
ENV API_HOST=0.0.0.0 \
    API_PORT=9000 \
    PARTYBUS_DATA_DIR=/var/lib/partybus
VOLUME ["/var/lib/partybus"]
WORKDIR /var/lib/partybus
USER 10001:10001
EXPOSE 9000
# GET /readyz on loopback (the defaults come from API_HOST and API_PORT).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["partybus", "healthcheck"]
# SIGTERM starts the graceful shutdown (requests in flight finish).
STOPSIGNAL SIGTERM
ENTRYPOINT ["partybus"]
CMD ["serve"]
