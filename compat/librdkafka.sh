#!/usr/bin/env bash
# librdkafka's own test suite (from the rdkafka-sys crate's bundled librdkafka source) against a
# fresh Odradek broker, in quick mode: compat/test-all.sh runs this with ODRADEK_BIN set. Exits
# non-zero if a test that is not in compat/librdkafka/skip.txt fails; rewrites
# compat/librdkafka/RESULTS.md. See compat/librdkafka/run.sh for what it does and its settings
# (LIBRDKAFKA_MODE=full for the whole suite).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/librdkafka/run.sh" "$@"
