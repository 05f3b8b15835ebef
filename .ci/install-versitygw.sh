#!/usr/bin/env bash
# Installs versitygw, the S3-compatible server that the SQS source's tests
# fetch CloudTrail log files from, into $GOBIN (or the first GOPATH's bin).
# Does nothing when that version is already installed.
set -euo pipefail

module=github.com/versity/versitygw
version=v1.8.0

bin="$(go env GOBIN)"
if [ -z "$bin" ]; then
	gopath="$(go env GOPATH)"
	bin="${gopath%%:*}/bin"
fi
target="$bin/versitygw"

if [ -x "$target" ] && go version -m "$target" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|$)"; then
	echo "versitygw $version already installed at $target"
	exit 0
fi

mkdir -p "$bin"
GOFLAGS= GOBIN="$bin" go install "$module/cmd/versitygw@$version"
echo "installed versitygw $version at $target"
