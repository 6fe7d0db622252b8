#!/bin/sh
# Stops the running hello-web of this environment (if any) and starts this release.
set -eu
pidfile="$FERRY_TARGET_DIR/app.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  old=$(cat "$pidfile")
  echo "stopping the running server (pid $old)"
  kill "$old"
  for _ in $(seq 1 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
fi
echo "starting hello-web $(cat VERSION) on port $PORT"
# setsid: the app outlives this step and is not killed with the step's process group.
setsid node server.js >> "$FERRY_TARGET_DIR/app.log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo "started (pid $(cat "$pidfile"))"
