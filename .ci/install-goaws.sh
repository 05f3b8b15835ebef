#!/usr/bin/env bash
# Installs goaws, the SQS-compatible server that the SQS source's tests run
# against, as "goaws" in $GOBIN (or the first GOPATH's bin). Does nothing when
# that version is already installed. v0.5.4 is the first release that speaks
# the JSON protocol current AWS SDKs use.
set -euo pipefail

module=github.com/Admiral-Piett/goaws
version=v0.5.4

bin="$(go env GOBIN)"
if [ -z "$bin" ]; then
	gopath="$(go env GOPATH)"
	bin="${gopath%%:*}/bin"
fi
target="$bin/goaws"

if [ -x "$target" ] && go version -m "$target" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|$)"; then
	echo "goaws $version already installed at $target"
	exit 0
fi

# The main package lives in app/cmd, so go install would name the binary
# "cmd": build into a scratch directory and install it under its own name.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
GOFLAGS= GOBIN="$scratch" go install "$module/app/cmd@$version"
mkdir -p "$bin"
install -m 0755 "$scratch/cmd" "$target"
echo "installed goaws $version at $target"
