# syntax=docker/dockerfile:1
#
# The o365sync container image: `docker build -t o365sync .` (BuildKit, the default builder since Docker 23).
# docs/deploy.md explains the image and the manifests under deploy/ that run it.

# ---- build ----------------------------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The whole context (.dockerignore keeps target/, state/, out/, .git and the test fixtures out): Cargo.toml names the
# benches and tests, so cargo needs their files to read the manifest, and src/ embeds jobs/demo.yaml.
COPY . .
# Dependency cache: the crate registry and target/ are BuildKit cache mounts, so a rebuild after a change to src/
# recompiles o365sync alone, not its few hundred dependencies. The binary is copied out of the cache mount.
RUN --mount=type=cache,id=o365sync-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=o365sync-target,target=/src/target \
    cargo build --release --locked --bin o365sync \
 && install -D -m 0755 target/release/o365sync /out/usr/local/bin/o365sync \
 && install -d -m 0750 /out/var/lib/o365sync \
 && install -d -m 0755 /out/etc/o365sync/jobs /out/etc/o365sync/certs

# ---- run ------------------------------------------------------------------------------------------------------------
# glibc + libgcc_s, CA certificates, no shell, no package manager; the nonroot user is 65532:65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/usr/local/bin/o365sync /usr/local/bin/o365sync
# The state directory belongs to nonroot, so a fresh (anonymous or named) volume mounted there is writable.
COPY --from=builder --chown=65532:65532 /out/var/lib/o365sync /var/lib/o365sync
# Mount points for the job files and the certificates (read-only mounts: a ConfigMap, a Secret, a bind mount).
COPY --from=builder /out/etc/o365sync /etc/o365sync
ENV O365SYNC_STATE_DIR=/var/lib/o365sync
# Checkpoints, ledgers and run history (SQLite per job) must outlive the container: mount a volume here.
VOLUME ["/var/lib/o365sync"]
USER nonroot:nonroot
# `o365sync run --every 10m --metrics-listen 0.0.0.0:9464` serves GET /metrics here (service mode).
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/o365sync"]
# One batch run of every job file in /etc/o365sync/jobs; give other arguments to `docker run` to replace it.
CMD ["run", "/etc/o365sync/jobs"]
