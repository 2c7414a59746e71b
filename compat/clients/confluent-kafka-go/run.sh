#!/usr/bin/env bash
# Compat scenarios 1-8 (compat/matrix.sh protocol) for confluent-kafka-go, Debian bookworm's
# golang-github-confluentinc-confluent-kafka-go-dev 0.11.6 (no Go module proxy here) on Debian's
# librdkafka 2.0.2 (cgo), which negotiates API versions with ApiVersions.
#
# Install: apt-get install golang-go golang-github-confluentinc-confluent-kafka-go-dev librdkafka-dev
# pkg-config (only if missing), then a GOPATH
# build (GO111MODULE=off, GOPATH=<cache>:/usr/share/gocode) into the cache, redone when the sources change.
#
#   bash compat/clients/confluent-kafka-go/run.sh   # RESULT lines on stdout, logs on stderr
#   KEEP_WORK=1 ...                       # keep the temp dir (broker and client logs)
set -uo pipefail

CLIENT_ID=confluent-kafka-go
APT_PKGS="golang-go golang-github-confluentinc-confluent-kafka-go-dev librdkafka-dev pkg-config"
VERSION_PKG=golang-github-confluentinc-confluent-kafka-go-dev
version_suffix() { echo " (librdkafka $(dpkg-query -W -f='${Version}' librdkafka-dev 2>/dev/null | sed 's/-[^-]*$//'))"; }
EXTRA_BROKER_ARGS=()
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/go-client.sh"
