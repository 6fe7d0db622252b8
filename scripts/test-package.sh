#!/usr/bin/env bash
# The Debian package as a person installs it: builds it with cargo-deb, installs it
# with `dpkg -i`, starts the installed `ferry` the way its systemd unit does (user
# ferry, the unit's capabilities and no others, the shipped /etc/ferry/ferry.toml;
# this machine has no running systemd) and checks /healthz, the web interface served
# from inside the binary, and a deployment of the packaged demo app whose app runs as
# the project's own user without capabilities. SIGTERM then stops Ferry but not the
# app (the unit's KillMode). Then upgrades to the next package (revision 2): the
# administrator's ferry.toml, the secret key, the ferry user, the data and the running
# app stay, and the upgraded Ferry signs in and shows the earlier deployment. Finally
# purges the package and stops what it started.
# Needs root (dpkg); run by scripts/test.sh after the web interface is built.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

fail() { echo "test-package: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root to install a package (CI runs as root)"
dpkg -s ferry >/dev/null 2>&1 && fail "the ferry package is installed already: remove it first"
[ -e /var/lib/ferry ] && fail "/var/lib/ferry exists (a run of scripts/run.sh as root?): remove it first"
[ -f dist/index.html ] || fail "the web interface is not built (scripts/lib.sh build_spa)"
for port in 8080 8081; do
  [ -z "$(ss -Hltn "sport = :$port")" ] || fail "port $port is in use: the shipped configuration and the demo app need it"
done

work=$(mktemp -d /tmp/ferry-package.XXXXXX)
had_ferry_user=false
getent passwd ferry >/dev/null && had_ferry_user=true
ferry_pid=""
app_port=8081
clean_up() {
  [ -n "$ferry_pid" ] && kill -9 "$ferry_pid" 2>/dev/null || true
  # The demo app outlives Ferry by design; it is this test's to stop (only if a step
  # user runs it: the port was free when the test began).
  local pid
  for pid in $(ss -Hltnp "sport = :$app_port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    [ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)" -ge "${STEP_IDS%-*}" ] && kill "$pid" 2>/dev/null
  done
  dpkg --purge ferry >/dev/null 2>&1 || true
  rm -rf /var/lib/ferry "$work"
  $had_ferry_user || userdel ferry 2>/dev/null || true
}
trap clean_up EXIT

# Waits until `$2` succeeds, for at most $3 seconds; fails naming `$1` otherwise.
wait_for() {
  local what=$1 check=$2 deadline=$((SECONDS + $3))
  until eval "$check" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "--- ferry's log:" >&2; cat "$work/ferry.log" >&2 || true
      fail "timed out waiting for $what"
    fi
    sleep 0.2
  done
}

info "building the package (the debug build, with the web interface embedded as in release)"
cargo build --quiet -p ferry-agent
cargo build --quiet -p ferry-server --features embed-site
cargo deb -p ferry-server --profile dev --no-build --no-strip --fast --quiet -o "$work/" >/dev/null
deb=$(ls "$work"/ferry_*.deb)
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/ferry ./usr/bin/ferry-agent ./etc/ferry/ferry.toml ./etc/ferry/agent.env \
  ./usr/share/ferry/examples/hello-web/ferry.yml; do
  grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done
grep -Eq "/systemd/system/ferry.service\$" <<<"$contents" || fail "the package lacks ferry.service"
grep -Eq "/systemd/system/ferry-agent.service\$" <<<"$contents" || fail "the package lacks ferry-agent.service"

info "installing it with dpkg -i"
dpkg -i "$deb" >/dev/null
/usr/bin/ferry --version | grep -Eq '^ferry [0-9.]+ \(commit [0-9a-f]{12}\)$' || fail "ferry --version: $(/usr/bin/ferry --version)"
/usr/bin/ferry-agent --version | grep -Eq '^ferry-agent [0-9.]+ \(commit [0-9a-f]{12}\)$' || fail "ferry-agent --version"
getent passwd ferry >/dev/null || fail "no ferry user"
[ "$(stat -c '%U %a' /var/lib/ferry)" = "ferry 711" ] || fail "/var/lib/ferry: $(stat -c '%U %a' /var/lib/ferry)"
[ "$(stat -c '%U:%G %a' /etc/ferry/ferry.toml)" = "root:ferry 640" ] || fail "ferry.toml: $(stat -c '%U:%G %a' /etc/ferry/ferry.toml)"
units=$(dirname "$(dpkg -L ferry | grep '/systemd/system/ferry.service$')")
unit=$(cat "$units/ferry.service")
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$units/ferry.service" "$units/ferry-agent.service" 2>"$work/verify" ||
    { cat "$work/verify" >&2; fail "systemd-analyze verify refused the units"; }
fi

# What the unit says, not a copy of it: its user, command, directory and capabilities.
setting() { sed -n "s/^$1=//p" <<<"$unit" | tail -1; }
user=$(setting User)
exec_start=$(setting ExecStart)
capabilities=$(setting AmbientCapabilities | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
[ "$(setting CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')" = "$capabilities" ] ||
  fail "the unit's bounding set is not its ambient set"
[ "$(setting KillMode)" = process ] || fail "the unit's KillMode is not process"

base=http://127.0.0.1:8080
# Starts /usr/bin/ferry as the installed unit would, and waits for /healthz.
start_ferry() {
  cd "$(setting WorkingDirectory)"
  FERRY_DEMO=true FERRY_ADMIN_PASSWORD=package-test-password \
    setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
    --inh-caps=-all,"$capabilities" --ambient-caps=-all,"$capabilities" --bounding-set=-all,"$capabilities" \
    $exec_start >>"$work/ferry.log" 2>&1 &
  ferry_pid=$!
  cd - >/dev/null
  wait_for "/healthz" "curl -sf $base/healthz" 60
}
# Sends SIGTERM and waits for a clean exit within the grace.
stop_ferry() {
  kill -TERM "$ferry_pid"
  wait_for "ferry to exit" "grep -q '^State:[[:space:]]*Z' /proc/$ferry_pid/status || [ ! -e /proc/$ferry_pid ]" 90
  wait "$ferry_pid" || fail "ferry exited with an error after SIGTERM: $(tail -5 "$work/ferry.log")"
  ferry_pid=""
}

info "starting the installed ferry as the unit does ($user, capabilities $capabilities)"
start_ferry
grep -q '"status":"ok"' <<<"$(curl -s $base/healthz)" || fail "healthz: $(curl -s $base/healthz)"
ferry_uid=$(awk '/^Uid:/ {print $3}' /proc/$ferry_pid/status)
[ "$ferry_uid" = "$(id -u ferry)" ] || fail "ferry runs as uid $ferry_uid"

info "the web interface comes from inside the binary"
index=$(curl -sf $base/)
wasm=$(grep -o 'ferry-frontend-[0-9a-f]*_bg\.wasm' <<<"$index" | head -1)
[ -n "$wasm" ] || fail "/ is not the web interface: $index"
grep -qa "$wasm" /usr/bin/ferry || fail "/usr/bin/ferry does not carry $wasm"
headers=$(curl -sf -o /dev/null -D - -H 'Accept-Encoding: gzip, br' "$base/$wasm" | tr -d '\r')
grep -qi '^content-encoding: br$' <<<"$headers" || fail "the wasm is not sent compressed: $headers"
grep -qi '^cache-control: public, max-age=31536000, immutable$' <<<"$headers" || fail "no immutable caching: $headers"
etag=$(sed -n 's/^etag: //Ip' <<<"$headers")
[ -n "$etag" ] || fail "no ETag: $headers"
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: br' -H "If-None-Match: $etag" "$base/$wasm")
[ "$status" = 304 ] || fail "If-None-Match answered $status, not 304"
# Each encoding of a file is its own representation, with its own ETag: a cache holding
# the brotli copy must not be told it is the plain one. The same file asked for plain,
# gzip and brotli, then each encoding's tag only matches that encoding.
etags=()
for coding in identity gzip br; do
  headers=$(curl -sf -o /dev/null -D - -H "Accept-Encoding: $coding" "$base/public/favicon.svg" | tr -d '\r')
  sent=$(sed -n 's/^content-encoding: //Ip' <<<"$headers")
  [ "${sent:-identity}" = "$coding" ] || fail "favicon.svg asked for as $coding came as ${sent:-identity}: $headers"
  etags+=("$(sed -n 's/^etag: //Ip' <<<"$headers")")
done
[ "${etags[0]}" != "${etags[1]}" ] && [ "${etags[1]}" != "${etags[2]}" ] && [ "${etags[0]}" != "${etags[2]}" ] ||
  fail "the encodings of favicon.svg share an ETag: ${etags[*]}"
grep -qi '^cache-control: no-cache$' <<<"$(curl -sf -o /dev/null -D - $base/deployments | tr -d '\r')" ||
  fail "a client-side route is not index.html revalidated on each load"

info "deploying the demo app"
jar=$work/cookies
api() { curl -sf -b "$jar" -c "$jar" -H "Origin: $base" -H 'Content-Type: application/json' "$@"; }
api -X POST $base/auth/login -d '{"login":"admin","password":"package-test-password"}' >/dev/null || fail "cannot sign in"
release=$(api $base/api/v1/projects/hello-web/releases | python3 -c 'import json,sys; print(max(r["id"] for r in json.load(sys.stdin)))')
deployment=$(api -X POST $base/api/v1/deployments \
  -d "{\"project\":\"hello-web\",\"release_id\":$release,\"environment\":\"development\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
state() { api $base/api/v1/deployments/$deployment | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("deployment", d)["state"])'; }
wait_for "deployment $deployment to finish" "state | grep -Eq 'succeeded|failed|cancelled'" 180
[ "$(state)" = succeeded ] || { api $base/api/v1/deployments/$deployment >&2; fail "the deployment did not succeed"; }
curl -sf http://127.0.0.1:$app_port/ | grep -q 'hello-web' || fail "the demo app does not answer on $app_port"

app=$(ss -Hltnp "sport = :$app_port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
app_uid=$(awk '/^Uid:/ {print $3}' /proc/$app/status)
first_step_uid=${STEP_IDS%-*}
[ "$app_uid" -gt "$first_step_uid" ] || fail "the app runs as uid $app_uid, not as a project's own user"
for set in CapInh CapPrm CapEff CapAmb; do
  [ "$(awk "/^$set:/ {print \$2}" /proc/$app/status)" = 0000000000000000 ] ||
    fail "the app holds capabilities ($set: $(awk "/^$set:/ {print \$2}" /proc/$app/status))"
done
[ "$(stat -c '%U %a' /var/lib/ferry/secret.key)" = "ferry 600" ] || fail "secret.key: $(stat -c '%U %a' /var/lib/ferry/secret.key)"

info "SIGTERM stops Ferry and leaves the app running"
stop_ferry
curl -sf http://127.0.0.1:$app_port/ >/dev/null || fail "the app stopped with Ferry"

info "upgrading to the next package keeps the configuration, the key and the data"
echo '# changed by the administrator: kept across upgrades' >>/etc/ferry/ferry.toml
key_before=$(sha256sum /var/lib/ferry/secret.key)
ferry_uid_before=$(id -u ferry)
mkdir -p "$work/next"
cargo deb -p ferry-server --profile dev --no-build --no-strip --fast --quiet --deb-revision 2 -o "$work/next/" >/dev/null
dpkg -i "$work"/next/ferry_*-2_*.deb >/dev/null
[ "$(dpkg-query -W -f '${Version}' ferry)" = "$(dpkg-deb -f "$work"/next/ferry_*.deb Version)" ] || fail "the upgrade did not install"
grep -q '^# changed by the administrator' /etc/ferry/ferry.toml || fail "the upgrade replaced the administrator's ferry.toml"
[ "$(sha256sum /var/lib/ferry/secret.key)" = "$key_before" ] || fail "the upgrade changed the secret key"
[ "$(id -u ferry)" = "$ferry_uid_before" ] || fail "the upgrade made another ferry user"
[ "$(stat -c '%U %a' /var/lib/ferry)" = "ferry 711" ] || fail "/var/lib/ferry after the upgrade: $(stat -c '%U %a' /var/lib/ferry)"
curl -sf http://127.0.0.1:$app_port/ >/dev/null || fail "the upgrade stopped the deployed app"
start_ferry
rm -f "$jar"
api -X POST $base/auth/login -d '{"login":"admin","password":"package-test-password"}' >/dev/null ||
  fail "cannot sign in after the upgrade"
[ "$(state)" = succeeded ] || fail "deployment $deployment is gone after the upgrade"
stop_ferry
info "the package installs, runs and upgrades"
