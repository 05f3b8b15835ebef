# Build a static binary, then ship it alone on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/secops-bot ./cmd/secops-bot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/secops-bot /usr/local/bin/secops-bot
COPY config.example.yaml /etc/secops-bot/config.example.yaml
USER nonroot:nonroot
# SQLite lives here by default when store.dsn is a relative path.
WORKDIR /var/lib/secops-bot
ENTRYPOINT ["/usr/local/bin/secops-bot"]
CMD ["serve"]
