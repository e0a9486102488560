# DreamOps image: built with the same script and pinned tools as a local release build
# (.ci/build), run as a non-root user on port 8080. Migrations apply at start-up.
#
#   docker build -t dreamops .
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... dreamops

# --- build -------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Tools first (cargo-leptos, wasm-bindgen CLI, wasm-opt from npm): this layer is
# reused until the tool versions or the lockfiles change.
COPY .ci/lib.sh .ci/build .ci/
COPY Cargo.lock ./
COPY end2end/package.json end2end/package-lock.json end2end/
RUN bash .ci/build --tools-only

COPY . .
RUN bash .ci/build

# --- run ---------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin dreamops
WORKDIR /app
# Local state (DREAMOPS_DATA_DIR) belongs to the user the server runs as.
RUN install -d -o dreamops -g dreamops /app/data
COPY --from=builder /src/target/release/dreamops /app/dreamops
# The bundle's content-hashed file names, read from beside the binary.
COPY --from=builder /src/target/release/hash.txt /app/hash.txt
COPY --from=builder /src/target/site /app/site

# GLIBC_TUNABLES: a fixed threshold above which glibc maps allocations and unmaps them
# when freed. Its default threshold grows to the largest block freed, after which each
# thread keeps Argon2's 19 MiB blocks: a burst of 200 sign-ups left 849 MiB resident,
# against 51 MiB with the threshold fixed (`cargo bench -p server --bench signups`).
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576 \
    LEPTOS_OUTPUT_NAME=dreamops \
    LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_HASH_FILES=true \
    LEPTOS_SITE_ADDR=0.0.0.0:8080 \
    LEPTOS_ENV=PROD \
    LOG_FORMAT=json \
    DREAMOPS_DATA_DIR=/app/data

USER dreamops
EXPOSE 8080
CMD ["/app/dreamops"]
