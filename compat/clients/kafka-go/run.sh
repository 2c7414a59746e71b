#!/usr/bin/env bash
# Compat scenarios 1-8 (compat/matrix.sh protocol) for segmentio/kafka-go, Debian bookworm's
# golang-github-segmentio-kafka-go-dev 0.2.1 (no Go module proxy here). It pins old API versions
# (see main.go's header: Produce v2, Fetch v2, CreateTopics v0, ...). Topics of scenarios 2-7 are
# auto-created (the broker runs with num.partitions=4), as kafka-go users usually do.
#
# Install: apt-get install golang-go golang-github-segmentio-kafka-go-dev (only if missing), then a GOPATH
# build (GO111MODULE=off, GOPATH=<cache>:/usr/share/gocode) into the cache, redone when the sources change.
#
#   bash compat/clients/kafka-go/run.sh   # RESULT lines on stdout, logs on stderr
#   KEEP_WORK=1 ...                       # keep the temp dir (broker and client logs)
set -uo pipefail

CLIENT_ID=kafka-go
APT_PKGS="golang-go golang-github-segmentio-kafka-go-dev"
VERSION_PKG=golang-github-segmentio-kafka-go-dev
VERSION_SUFFIX=""
EXTRA_BROKER_ARGS=(--override num.partitions=4)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/go-client.sh"
