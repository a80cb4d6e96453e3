# syntax=docker/dockerfile:1.7
#
# flow-stream: one image holding both services, pipeline-mgmt (the default entrypoint) and
# pipeline-worker (run it with `--entrypoint pipeline-worker ... run`, or `command:` in Kubernetes),
# plus the load generator flow-loadgen used by the compose `loadgen` profile (a few MB).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t flow-stream:dev .
#   docker run --rm -p 13012:13012 flow-stream:dev                  # pipeline-mgmt serve
#   docker run --rm --entrypoint pipeline-worker flow-stream:dev run
#   docker run --rm --entrypoint flow-loadgen flow-stream:dev --help    # the load generator
#
# Needs BuildKit (buildx, or Docker >= 23): the build uses cache mounts and a heredoc.
# Statically checked by scripts/validate-artifacts.

ARG BUILD_IMAGE=rust:1.86-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# --- build ---------------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
ARG TARGETPLATFORM
# rdkafka-sys builds the bundled librdkafka (gcc, make, perl); openssl-sys and libz-sys link the
# system libraries (pkg-config, libssl-dev, zlib1g-dev). The full rust image has most of them;
# installing them keeps a slim BUILD_IMAGE working too.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc g++ make perl pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Dependency cache: the cargo registry and the target directory live in BuildKit cache mounts
# (one target cache per platform), so a source change rebuilds only the workspace crates.
# The binaries are copied out of the cache mount into /out for the runtime stage.
RUN --mount=type=cache,id=flow-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=flow-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=flow-target-${TARGETPLATFORM},target=/src/target,sharing=locked \
    cargo build --release --locked -p pipeline-mgmt -p pipeline-worker -p flow-loadgen \
      --bin pipeline-mgmt --bin pipeline-worker --bin flow-loadgen \
 && mkdir -p /out \
 && cp target/release/pipeline-mgmt target/release/pipeline-worker target/release/flow-loadgen /out/

# --- runtime -------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="flow-stream" \
      org.opencontainers.image.description="Kafka-native log pipeline service: pipeline-mgmt and pipeline-worker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# libssl3 for rdkafka's TLS; ca-certificates for TLS to Kafka and OpenSearch. zlib is in the base.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 flow \
 && useradd --system --uid 10001 --gid flow --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin flow

COPY --from=build /out/pipeline-mgmt /out/pipeline-worker /out/flow-loadgen /usr/local/bin/
COPY config/pipeline-config.yaml /etc/flow-stream/pipeline-config.yaml

# Health check without curl: an HTTP/1.0 GET over bash's /dev/tcp. The port is the one of the
# binary running as pid 1 (pipeline-worker: 13013, pipeline-mgmt: 13012) unless
# FLOW_HEALTHCHECK_PORT says otherwise (set it when server.httpPort / worker.httpPort change).
COPY --chmod=0755 <<'EOF' /usr/local/bin/flow-healthcheck
#!/bin/bash
# flow-healthcheck [PATH]: succeeds when GET http://127.0.0.1:<port>PATH answers 200.
set -eu
path=${1:-/healthz}
port=${FLOW_HEALTHCHECK_PORT:-}
if [ -z "$port" ]; then
  case "$(tr '\0' ' ' </proc/1/cmdline 2>/dev/null)" in
    *pipeline-worker*) port=13013 ;;
    *) port=13012 ;;
  esac
fi
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3 || status=""
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
esac
echo "flow-healthcheck: GET $path on port $port: ${status:-no answer}" >&2
exit 1
EOF

ENV FLOW_CONFIG=/etc/flow-stream/pipeline-config.yaml
USER 10001:10001
EXPOSE 13012 13013
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["flow-healthcheck", "/healthz"]
ENTRYPOINT ["pipeline-mgmt"]
CMD ["serve"]
