#!/usr/bin/env bash
# Compat scenarios 1-8 (protocol: compat/matrix.sh) for confluent-kafka-python, whose wheel bundles
# librdkafka. Installs the pinned version into a venv cached under
# ${COMPAT_CACHE:-~/.cache/odradek-compat}, starts its own broker (compat/lib/broker.sh) and runs
# scenarios.py once per scenario; prints one RESULT line per scenario on stdout, logs on stderr.
#
#   bash compat/clients/confluent-kafka-python/run.sh
#   KEEP_WORK=1 ...     # keep the temp dir (broker logs, each scenario's client log)
set -uo pipefail

CLIENT_ID=confluent-kafka-python
PIP_PKGS=(confluent-kafka==2.16.1)
VERSION_CMD='import confluent_kafka as c; print(c.version() + " (librdkafka " + c.libversion()[0] + ")")'
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/python-client.sh"
