# stillup alone in an image: the static musl binary and nothing else (no shell, no libc, no
# certificates: without a store on disk it trusts its built-in Mozilla roots), for other images
# to take with one line.
#
#   scripts/dist.sh                   # builds dist/x86_64-unknown-linux-musl/stillup
#   docker build -t stillup .         # no Rust toolchain in the image; .dockerignore sends only that file
#
# In your own image:
#
#   COPY --from=stillup /stillup /stillup
#   HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
#       CMD ["/stillup", "check", "http://127.0.0.1:8080/health", "--attempt-timeout", "3s"]
#
# or run it as a one-shot wait (the first argument is a subcommand):
#
#   docker run --rm --network host stillup wait tcp://127.0.0.1:5432 --timeout 60s
#
# crates/stillup/tests/integration/packaging.rs checks the COPY path against scripts/dist.sh
# and runs the HEALTHCHECK command above against a live server.
FROM scratch
COPY dist/x86_64-unknown-linux-musl/stillup /stillup
# The distroless "nonroot" IDs: stillup only connects out and writes to stdout/stderr.
USER 65532:65532
ENTRYPOINT ["/stillup"]
CMD ["--help"]
