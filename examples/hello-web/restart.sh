#!/bin/sh
# Stops the running hello-web of this environment (if any) and starts this release.
set -eu
# One server per blue-green slot (FERRY_SLOT), or one per environment.
pidfile="$FERRY_TARGET_DIR/app${FERRY_SLOT:+-$FERRY_SLOT}.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  old=$(cat "$pidfile")
  echo "stopping the running server (pid $old)"
  # It may have exited since the check above; stopped is what is wanted either way.
  kill "$old" 2>/dev/null || echo "it had stopped already"
  # Gone, or a zombie waiting for init to reap it (its port is already free).
  for _ in $(seq 1 100); do
    kill -0 "$old" 2>/dev/null || break
    [ "$(cut -d' ' -f3 "/proc/$old/stat" 2>/dev/null)" = Z ] && break
    sleep 0.05
  done
fi
echo "starting hello-web $(cat VERSION) on port $PORT"
log="$FERRY_TARGET_DIR/app${FERRY_SLOT:+-$FERRY_SLOT}.log"
before=$(cat "$log" 2>/dev/null | wc -l)
# setsid: the app outlives this step and is not killed with the step's process group.
setsid node server.js >> "$log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$pidfile"
# Wait until it says it listens; a server that dies instead (say, its port is taken)
# fails this step with its reason.
for _ in $(seq 1 100); do
  if tail -n +"$((before + 1))" "$log" | grep -q "listening on $PORT"; then
    echo "started (pid $pid)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
    echo "hello-web exited right away:" >&2
    grep "^Error" "$log" | tail -n 1 >&2
    exit 1
  fi
  sleep 0.05
done
echo "started (pid $pid), not listening yet"
