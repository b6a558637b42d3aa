# shellcheck shell=bash
# Local object-store servers for the integration tests: S3 (moto), Azure Blob (Azurite)
# and GCS (tests/servers/gcs_xml_server.py). Everything listens on 127.0.0.1 only.
#
# Sourced (what scripts/test.sh does):
#
#     source tests/servers/servers.sh
#     start_servers     # install once, start, create the bucket/container, export the env
#     ...               # run the tests
#     stop_servers      # also run by an EXIT trap that start_servers installs; safe twice
#
# Run directly, for a developer:
#
#     bash tests/servers/servers.sh env   # start them, print `export ...` lines, wait for Ctrl-C
#
# start_servers returns non-zero, naming the server and showing its log tail, when an
# install fails or a server does not answer within BOTEVENTS_SERVERS_TIMEOUT seconds (30):
# the tests must run, never skip silently.
#
# Needs python3 (>= 3.9, with venv) and npm with Node.js >= 20; installs into target/servers/
# (moto into venv/, Azurite into node_modules/) once, and reuses them while
# requirements.txt / package-lock.json (and the python/node versions) are unchanged.
# Logs: target/servers/logs/. See tests/servers/README.md.

_BES_SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_BES_ROOT="$(cd "$_BES_SRC_DIR/../.." && pwd)"
BOTEVENTS_SERVERS_DIR="${BOTEVENTS_SERVERS_DIR:-$_BES_ROOT/target/servers}"
BOTEVENTS_SERVERS_TIMEOUT="${BOTEVENTS_SERVERS_TIMEOUT:-30}"

BOTEVENTS_TEST_BUCKET=botevents-test
# The Azure storage emulator's well-known account and key (published in Azure's documentation).
_BES_AZ_ACCOUNT=devstoreaccount1
_BES_AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# PIDs and names of the servers this shell started (parallel arrays).
_BES_PIDS=()
_BES_NAMES=()

_bes_say() { printf 'servers: %s\n' "$*" >&2; }
_bes_fail() { printf 'servers: ERROR: %s\n' "$*" >&2; return 1; }

# _bes_log_tail FILE : the last lines of a log, indented, on stderr.
_bes_log_tail() {
  if [[ -s "$1" ]]; then
    printf 'servers: ---- last lines of %s ----\n' "$1" >&2
    tail -n 40 "$1" | sed 's/^/    /' >&2
    printf 'servers: ----\n' >&2
  else
    printf 'servers: (%s is empty)\n' "$1" >&2
  fi
}

_bes_hash() { cat "$@" | python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }

# ---------------------------------------------------------------- install

# moto into $BOTEVENTS_SERVERS_DIR/venv, reused while the stamp matches.
_bes_install_moto() {
  local dir="$BOTEVENTS_SERVERS_DIR" log="$BOTEVENTS_SERVERS_DIR/logs/install-moto.log" stamp
  stamp="$(_bes_hash "$_BES_SRC_DIR/requirements.txt") $(python3 -c 'import sys; print(sys.version.split()[0])')"
  if [[ -x "$dir/venv/bin/moto_server" && "$(cat "$dir/venv/.botevents-stamp" 2>/dev/null)" == "$stamp" ]]; then
    return 0
  fi
  {
    rm -rf "$dir/venv" &&
      python3 -m venv "$dir/venv" &&
      "$dir/venv/bin/python" -m pip install --disable-pip-version-check --no-input \
        -r "$_BES_SRC_DIR/requirements.txt" &&
      [[ -x "$dir/venv/bin/moto_server" ]]
  } >"$log" 2>&1 || {
    _bes_log_tail "$log"
    _bes_fail "installing moto (tests/servers/requirements.txt) into $dir/venv failed; full log: $log"
    return 1
  }
  printf '%s\n' "$stamp" >"$dir/venv/.botevents-stamp"
}

# Azurite into $BOTEVENTS_SERVERS_DIR/node_modules (npm ci from our package-lock.json).
_bes_install_azurite() {
  local dir="$BOTEVENTS_SERVERS_DIR" log="$BOTEVENTS_SERVERS_DIR/logs/install-azurite.log" stamp
  stamp="$(_bes_hash "$_BES_SRC_DIR/package.json" "$_BES_SRC_DIR/package-lock.json") $(node --version)"
  if [[ -x "$dir/node_modules/.bin/azurite-blob" && "$(cat "$dir/node_modules/.botevents-stamp" 2>/dev/null)" == "$stamp" ]]; then
    return 0
  fi
  {
    rm -rf "$dir/node_modules" &&
      cp "$_BES_SRC_DIR/package.json" "$_BES_SRC_DIR/package-lock.json" "$dir/" &&
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=warn &&
      [[ -x "$dir/node_modules/.bin/azurite-blob" ]]
  } >"$log" 2>&1 || {
    _bes_log_tail "$log"
    _bes_fail "installing Azurite (tests/servers/package-lock.json) into $dir/node_modules failed; full log: $log"
    return 1
  }
  printf '%s\n' "$stamp" >"$dir/node_modules/.botevents-stamp"
}

# Installs moto and Azurite in parallel (each only when missing or out of date).
_bes_install() {
  command -v python3 >/dev/null || { _bes_fail "python3 (>= 3.9, with venv) is needed for moto"; return 1; }
  python3 -c 'import venv, ensurepip' 2>/dev/null ||
    { _bes_fail "python3's venv/ensurepip modules are missing (Debian: apt-get install python3-venv)"; return 1; }
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    _bes_fail "node and npm (Node.js >= 20) are needed for Azurite (Debian: apt-get install nodejs npm)"
    return 1
  fi
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  [[ "$node_major" -ge 20 ]] || { _bes_fail "Azurite 3.35 needs Node.js >= 20, found $(node --version)"; return 1; }

  mkdir -p "$BOTEVENTS_SERVERS_DIR/logs"
  local moto_rc=0 az_rc=0 moto_pid az_pid
  _bes_install_moto &
  moto_pid=$!
  _bes_install_azurite &
  az_pid=$!
  wait "$moto_pid" || moto_rc=$?
  wait "$az_pid" || az_rc=$?
  [[ $moto_rc -eq 0 && $az_rc -eq 0 ]]
}

# ---------------------------------------------------------------- start / wait

# _bes_bg NAME LOG COMMAND... : starts a server in the background and records its PID.
_bes_bg() {
  local name="$1" log="$2"
  shift 2
  "$@" >"$log" 2>&1 </dev/null &
  _BES_PIDS+=("$!")
  _BES_NAMES+=("$name")
}

# _bes_wait NAME PID LOG URL ANY_STATUS : polls URL until it answers (200, or any HTTP status
# when ANY_STATUS=1) while PID lives; fails with the log tail after the timeout.
_bes_wait() {
  local name="$1" pid="$2" log="$3" url="$4" any="$5" rc=0
  python3 - "$pid" "$url" "$any" "$BOTEVENTS_SERVERS_TIMEOUT" <<'EOF' || rc=$?
import os, sys, time, urllib.error, urllib.request
pid, url, any_status, timeout = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", float(sys.argv[4])
deadline = time.monotonic() + timeout
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200 or any_status:
                sys.exit(0)
    except urllib.error.HTTPError:
        if any_status:
            sys.exit(0)
    except OSError:
        pass
    try:  # a child that exited stays a zombie until reaped: look at its state
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                sys.exit(3)
    except FileNotFoundError:
        sys.exit(3)
    if time.monotonic() > deadline:
        sys.exit(2)
    time.sleep(0.1)
EOF
  case $rc in
    0) return 0 ;;
    3) _bes_log_tail "$log"; _bes_fail "$name exited during start-up (log: $log)" ;;
    *) _bes_log_tail "$log"; _bes_fail "$name did not answer $url within ${BOTEVENTS_SERVERS_TIMEOUT}s (log: $log)" ;;
  esac
}

# Creates the S3 bucket (plain PUT) and the Azure container (SharedKey-signed PUT).
_bes_create_buckets() {
  python3 - "$1" "$2" "$BOTEVENTS_TEST_BUCKET" "$_BES_AZ_ACCOUNT" "$_BES_AZ_KEY" <<'EOF'
import base64, hashlib, hmac, http.client, sys
from email.utils import formatdate
s3_port, az_port, bucket, account, key = sys.argv[1:6]

def request(port, method, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    conn.request(method, path, body=b"", headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body

status, body = request(s3_port, "PUT", f"/{bucket}", {"Content-Length": "0"})
if status not in (200, 409):
    sys.exit(f"S3 (moto): PUT /{bucket} answered {status}: {body[:500]!r}")

# Azure SharedKey: https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
headers = {
    "x-ms-date": formatdate(usegmt=True),
    "x-ms-version": "2021-08-06",
    "Content-Type": "application/octet-stream",
    "Content-Length": "0",
}
canonical_headers = "".join(
    f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
string_to_sign = "\n".join([
    "PUT", "", "", "",  # verb, Content-Encoding, Content-Language, Content-Length (empty if 0)
    "", headers["Content-Type"], "",  # Content-MD5, Content-Type, Date
    "", "", "", "", "",  # If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range
]) + "\n" + canonical_headers + f"/{account}/{account}/{bucket}\nrestype:container"
signature = base64.b64encode(hmac.new(
    base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()).decode()
headers["Authorization"] = f"SharedKey {account}:{signature}"
status, body = request(az_port, "PUT", f"/{account}/{bucket}?restype=container", headers)
if status not in (201, 409):
    sys.exit(f"Azure (Azurite): creating container {bucket} answered {status}: {body[:500]!r}")
EOF
}

# Prints three distinct free TCP ports on 127.0.0.1.
_bes_free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()'
}

# ---------------------------------------------------------------- public

start_servers() {
  if [[ ${#_BES_PIDS[@]} -gt 0 ]]; then
    _bes_say "already started (pids ${_BES_PIDS[*]})"
    return 0
  fi
  local t0=$SECONDS dir="$BOTEVENTS_SERVERS_DIR"
  mkdir -p "$dir/logs" || return 1
  _bes_install || return 1
  _bes_install_exit_trap

  local ports s3_port az_port gcs_port
  ports="$(_bes_free_ports)" || { _bes_fail "could not pick free ports"; return 1; }
  read -r s3_port az_port gcs_port <<<"$ports"

  _bes_bg moto "$dir/logs/moto.log" "$dir/venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port"
  _bes_bg azurite "$dir/logs/azurite.log" "$dir/node_modules/.bin/azurite-blob" \
    --blobHost 127.0.0.1 --blobPort "$az_port" --inMemoryPersistence \
    --disableTelemetry --skipApiVersionCheck --silent
  _bes_bg gcs "$dir/logs/gcs.log" python3 "$_BES_SRC_DIR/gcs_xml_server.py" \
    --host 127.0.0.1 --port "$gcs_port" --bucket "$BOTEVENTS_TEST_BUCKET"

  if ! _bes_wait "S3 server (moto)" "${_BES_PIDS[0]}" "$dir/logs/moto.log" \
    "http://127.0.0.1:$s3_port/moto-api/" 0 ||
    ! _bes_wait "Azure server (Azurite)" "${_BES_PIDS[1]}" "$dir/logs/azurite.log" \
      "http://127.0.0.1:$az_port/$_BES_AZ_ACCOUNT?comp=list" 1 ||
    ! _bes_wait "GCS server (gcs_xml_server.py)" "${_BES_PIDS[2]}" "$dir/logs/gcs.log" \
      "http://127.0.0.1:$gcs_port/_health" 0; then
    stop_servers
    return 1
  fi
  _bes_create_buckets "$s3_port" "$az_port" ||
    { _bes_fail "creating bucket/container '$BOTEVENTS_TEST_BUCKET' failed"; stop_servers; return 1; }

  local sa="$dir/gcs-service-account.json"
  printf '{"gcs_base_url":"http://127.0.0.1:%s","disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}\n' \
    "$gcs_port" >"$sa"

  export BOTEVENTS_TEST_SERVERS=1

  export BOTEVENTS_TEST_S3_URL="s3://$BOTEVENTS_TEST_BUCKET"
  export AWS_ENDPOINT="http://127.0.0.1:$s3_port"
  export AWS_ALLOW_HTTP=true
  export AWS_REGION=us-east-1
  # Always static credentials: without them a client walks to the cloud metadata address.
  export AWS_ACCESS_KEY_ID=test
  export AWS_SECRET_ACCESS_KEY=test

  export BOTEVENTS_TEST_GCS_URL="gs://$BOTEVENTS_TEST_BUCKET"
  export GOOGLE_SERVICE_ACCOUNT="$sa"
  export GOOGLE_BUCKET="$BOTEVENTS_TEST_BUCKET"
  # The local server speaks plain http (object_store refuses it unless told).
  export GOOGLE_ALLOW_HTTP=true
  export BOTEVENTS_TEST_GCS_ADMIN="http://127.0.0.1:$gcs_port"

  export BOTEVENTS_TEST_AZ_URL="az://$BOTEVENTS_TEST_BUCKET"
  export AZURE_STORAGE_USE_EMULATOR=true
  export AZURE_CONTAINER_NAME="$BOTEVENTS_TEST_BUCKET"
  export AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$az_port"
  export AZURE_STORAGE_ACCOUNT_NAME="$_BES_AZ_ACCOUNT"
  export AZURE_STORAGE_ACCOUNT_KEY="$_BES_AZ_KEY"

  _bes_say "S3 (moto) on :$s3_port, Azure (Azurite) on :$az_port, GCS on :$gcs_port — ready in $((SECONDS - t0))s (logs: $dir/logs)"
}

stop_servers() {
  [[ ${#_BES_PIDS[@]} -gt 0 ]] || return 0
  local pids=("${_BES_PIDS[@]}") pid watchdog
  _BES_PIDS=()
  _BES_NAMES=()
  # Every status here is ignored on purpose: this runs under `set -e` and in EXIT traps.
  kill -TERM "${pids[@]}" 2>/dev/null || true
  # Give them 5 s to exit, then SIGKILL whatever is left.
  (
    sleep 5
    kill -KILL "${pids[@]}" 2>/dev/null
  ) >/dev/null 2>&1 &
  watchdog=$!
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  return 0
}

# The env lines for the tests, one `export NAME='value'` per line.
print_servers_env() {
  local name
  for name in BOTEVENTS_TEST_SERVERS \
    BOTEVENTS_TEST_S3_URL AWS_ENDPOINT AWS_ALLOW_HTTP AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
    BOTEVENTS_TEST_GCS_URL GOOGLE_SERVICE_ACCOUNT GOOGLE_BUCKET GOOGLE_ALLOW_HTTP BOTEVENTS_TEST_GCS_ADMIN \
    BOTEVENTS_TEST_AZ_URL AZURE_STORAGE_USE_EMULATOR AZURE_CONTAINER_NAME AZURITE_BLOB_STORAGE_URL \
    AZURE_STORAGE_ACCOUNT_NAME AZURE_STORAGE_ACCOUNT_KEY; do
    printf "export %s='%s'\n" "$name" "${!name}"
  done
}

# ---------------------------------------------------------------- EXIT trap

# Runs stop_servers on exit, then whatever EXIT trap was there before (with the same $?).
_bes_on_exit() {
  local rc=$?
  set +e
  stop_servers
  if [[ -n "${_BES_PREV_EXIT_TRAP:-}" ]]; then
    (exit "$rc")
    eval "$_BES_PREV_EXIT_TRAP"
  fi
  return "$rc"
}

_bes_install_exit_trap() {
  local current
  current="$(trap -p EXIT)"
  [[ "$current" == *_bes_on_exit* ]] && return 0
  _BES_PREV_EXIT_TRAP=""
  if [[ -n "$current" ]]; then
    # `trap -p` prints: trap -- 'COMMAND' EXIT, with COMMAND shell-quoted.
    current="${current#"trap -- "}"
    eval "_BES_PREV_EXIT_TRAP=${current% EXIT}"
  fi
  trap _bes_on_exit EXIT
}

# ---------------------------------------------------------------- run directly

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -uo pipefail
  case "${1:-}" in
    env)
      trap 'exit 130' INT
      trap 'exit 143' TERM
      start_servers || exit 1
      print_servers_env
      _bes_say "running; Ctrl-C stops them"
      while :; do
        for i in "${!_BES_PIDS[@]}"; do
          if ! kill -0 "${_BES_PIDS[$i]}" 2>/dev/null ||
            [[ "$(awk '{print $3}' "/proc/${_BES_PIDS[$i]}/stat" 2>/dev/null)" == Z ]]; then
            _bes_fail "${_BES_NAMES[$i]} exited (log: $BOTEVENTS_SERVERS_DIR/logs/${_BES_NAMES[$i]}.log)"
            exit 1
          fi
        done
        sleep 1
      done
      ;;
    install)
      _bes_install || exit 1
      _bes_say "installed into $BOTEVENTS_SERVERS_DIR"
      ;;
    *)
      echo "usage: bash tests/servers/servers.sh env       start the servers, print the env, wait for Ctrl-C" >&2
      echo "       bash tests/servers/servers.sh install   only install moto and Azurite" >&2
      echo "       source tests/servers/servers.sh; start_servers; ...; stop_servers" >&2
      exit 2
      ;;
  esac
fi
