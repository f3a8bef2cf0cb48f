#!/usr/bin/env bash
# A coordinator and two workers started by hand over tcp://, as you would on
# three machines (or in three terminals). Run from anywhere with nngexport on
# PATH:
#
#   examples/tcp_three_terminals.sh [OUTPUT.csv] [PORT]
#
# By hand, the same thing is:
#   terminal 1: nngexport export 'synthetic:?rows=300000' out.csv \
#                 --workers 0 --listen tcp://127.0.0.1:5555 --min-workers 2
#   terminal 2: nngexport worker --connect tcp://127.0.0.1:5555 --allow "synthetic:*"
#   terminal 3: nngexport worker --connect tcp://127.0.0.1:5555 --allow "synthetic:*"
# On other machines, listen on tcp://0.0.0.0:5555 and connect to the
# coordinator's host name; each worker must be able to open the source
# (for sqlite://, the same path on every machine).
set -euo pipefail
output=${1:-tcp-example.csv}
port=${2:-5555}
url=tcp://127.0.0.1:$port

# Workers may start before the coordinator: they keep dialing until it is up.
nngexport worker --connect "$url" --allow "synthetic:*" --name worker-a &
a=$!
nngexport worker --connect "$url" --allow "synthetic:*" --name worker-b &
b=$!
trap 'kill $a $b 2>/dev/null; wait $a $b 2>/dev/null || true' EXIT

nngexport export 'synthetic:?rows=300000' "$output" \
  --workers 0 --listen "$url" --min-workers 2 --chunk-rows 10000
