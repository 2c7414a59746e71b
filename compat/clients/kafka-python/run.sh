#!/usr/bin/env bash
# Compat scenarios 1-8 (protocol: compat/matrix.sh) for kafka-python, the pure-Python client, with
# its optional codec libraries (python-snappy on cramjam, lz4, zstandard). Installs the pinned version into a venv cached under
# ${COMPAT_CACHE:-~/.cache/odradek-compat}, starts its own broker (compat/lib/broker.sh) and runs
# scenarios.py once per scenario; prints one RESULT line per scenario on stdout, logs on stderr.
#
#   bash compat/clients/kafka-python/run.sh
#   KEEP_WORK=1 ...     # keep the temp dir (broker logs, each scenario's client log)
set -uo pipefail

CLIENT_ID=kafka-python
PIP_PKGS=(kafka-python==3.0.12 python-snappy==0.7.3 cramjam==2.14.0 lz4==4.4.5 zstandard==0.25.0)
VERSION_CMD='import kafka; print(kafka.__version__)'
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/python-client.sh"
