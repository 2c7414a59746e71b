#!/usr/bin/env bash
# Compat scenarios 1-8 (compat/matrix.sh protocol) for Sarama, Debian bookworm's
# golang-github-shopify-sarama-dev 1.22.1 (no Go module proxy here), with config.Version = V2_2_0_0
# (the newest this Sarama knows; it then sends exactly the versions listed in main.go's header).
#
# Install: apt-get install golang-go golang-github-shopify-sarama-dev (only if missing), then a GOPATH
# build (GO111MODULE=off, GOPATH=<cache>:/usr/share/gocode) into the cache, redone when the sources change.
#
#   bash compat/clients/sarama/run.sh     # RESULT lines on stdout, logs on stderr
#   KEEP_WORK=1 ...                       # keep the temp dir (broker and client logs)
set -uo pipefail

CLIENT_ID=sarama
APT_PKGS="golang-go golang-github-shopify-sarama-dev"
VERSION_PKG=golang-github-shopify-sarama-dev
VERSION_SUFFIX=" (Version V2_2_0_0)"
EXTRA_BROKER_ARGS=()
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/go-client.sh"
