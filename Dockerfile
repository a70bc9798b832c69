# syntax=docker/dockerfile:1
# The one image for the one `irsa` binary: `irsa server` by default (STS + IAM on port 4566, in
# memory, as CI wants it), and `irsa webhook`, `irsa profile-controller`, ... with other
# arguments (deploy/ runs them from this image). Build from the repository root:
#   docker build -t irsa .
#   docker run --rm -p 4566:4566 irsa                                  # irsa server --ephemeral
#   docker run --rm -p 4566:4566 -v irsa-data:/data irsa server --data-dir /data

FROM rust:1.95-bookworm AS build
# cmake and clang for aws-lc-rs (no protoc: irsa builds with nothing but cargo).
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends cmake clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p irsa \
 && install -D -m 0755 target/release/irsa /out/usr/local/bin/irsa \
 && mkdir -p /out/data

# glibc and libgcc, no shell, no package manager; `irsa healthcheck` stands in for curl.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/irsa /usr/local/bin/irsa
# An empty directory the non-root user owns, for `--data-dir /data` on a volume.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV IRSA_LISTEN=0.0.0.0:4566
EXPOSE 4566
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/irsa", "healthcheck", "--url", "http://127.0.0.1:4566/healthz"]
ENTRYPOINT ["/usr/local/bin/irsa"]
CMD ["server", "--ephemeral"]
