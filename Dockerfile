# Build a static binary, then ship it alone on a distroless, non-root base.
# The image is published as ghcr.io/secops-bot/secops-bot:<version> (the
# name the README and deploy/kubernetes use); build it locally with
#   docker build -t ghcr.io/secops-bot/secops-bot:dev .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/secops-bot ./cmd/secops-bot
# The data directory must belong to the user the bot runs as (65532,
# "nonroot" in distroless) whatever user built the image: WORKDIR alone
# would create it owned by root, and SQLite could not write there.
RUN mkdir -p /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="secops-bot" \
      org.opencontainers.image.source="https://github.com/secops-bot/secops-bot"
COPY --from=build /out/secops-bot /usr/local/bin/secops-bot
COPY config.example.yaml /etc/secops-bot/config.example.yaml
# The bundled events of both stories, so that the first run needs no build:
#   docker run --rm ghcr.io/secops-bot/secops-bot:dev replay \
#     --config /etc/secops-bot/config.example.yaml /usr/share/secops-bot/examples
COPY examples /usr/share/secops-bot/examples
COPY --from=build --chown=65532:65532 /out/data /var/lib/secops-bot
USER 65532:65532
# SQLite lives here by default when store.dsn is a relative path.
WORKDIR /var/lib/secops-bot
ENTRYPOINT ["/usr/local/bin/secops-bot"]
CMD ["serve"]
