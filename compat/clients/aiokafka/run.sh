#!/usr/bin/env bash
# Compat scenarios 1-8 (protocol: compat/matrix.sh) for aiokafka, the asyncio client, with cramjam
# for its snappy, lz4 and zstd codecs. Installs the pinned version into a venv cached under
# ${COMPAT_CACHE:-~/.cache/odradek-compat}, starts its own broker (compat/lib/broker.sh) and runs
# scenarios.py once per scenario; prints one RESULT line per scenario on stdout, logs on stderr.
#
#   bash compat/clients/aiokafka/run.sh
#   KEEP_WORK=1 ...     # keep the temp dir (broker logs, each scenario's client log)
set -uo pipefail

CLIENT_ID=aiokafka
PIP_PKGS=(aiokafka==0.14.0 cramjam==2.14.0)
VERSION_CMD='import aiokafka; print(aiokafka.__version__)'
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/python-client.sh"
