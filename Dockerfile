# mcpgw's container image: a release build, then a minimal non-root runtime.
# One binary serves every role:
#   mcpgw serve           both planes in one process (the default command)
#   mcpgw control-plane   the registry, admin APIs and config streams (4445)
#   mcpgw data-plane      MCP for clients, config from MCPGW_CONTROL_PLANE (4444)
# Off loopback the gateway refuses to start with its default secrets: give it
# JWT_SECRET_KEY, BASIC_AUTH_PASSWORD and AUTH_ENCRYPTION_SECRET (the Helm
# chart does, from Secrets).
#
# tests/tests/image.rs builds the same runtime offline (FROM scratch with the
# locally built binary, the CA roots, the libraries it links and the nonroot
# user), since no image can be pulled on the machines that test it.

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mcpgw-control-plane --bin mcpgw \
 && install -m 0755 target/release/mcpgw /mcpgw

# glibc, libgcc_s, CA roots, /tmp and the nonroot user (65532), nothing else:
# no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /mcpgw /usr/local/bin/mcpgw
USER 65532:65532
ENV HOST=0.0.0.0
EXPOSE 4444 4445
ENTRYPOINT ["/usr/local/bin/mcpgw"]
CMD ["serve"]
