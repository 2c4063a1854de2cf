#!/usr/bin/env bash
# Acceptance benchmark: Postern and Postfix's smtpd receive the same STARTTLS load, one after the
# other, in the same run; the table gives messages/s accepted into the durable queue, p50/p99
# acceptance latency and the ratio Postern/Postfix. See bench/README.md.
#
# usage: bench/accept.sh [--connections N] [--duration S] [--warmup S] [--rounds R]
#                        [--modes "persistent new-connection"] [--keep] [--no-build]
set -euo pipefail

CONNECTIONS=16
DURATION=10
WARMUP=3
ROUNDS=3
MODES="persistent new-connection"
KEEP=0
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --modes) MODES=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
POSTERN_ADDR=127.0.0.10
POSTFIX_ADDR=127.0.0.11
PORT=2525
LIMIT=$((CONNECTIONS * 2 + 20))

if [ "$(id -u)" != 0 ]; then
    echo "accept.sh runs as root (it assigns loopback addresses and starts a Postfix instance)" >&2
    exit 1
fi

# Both queues in one directory, so on the same file system.
WORK=$(mktemp -d /var/tmp/postern-bench.XXXXXX)
chmod 755 "$WORK" # the postfix user must reach its directories
PF="$WORK/postfix"
PS="$WORK/postern"
POSTERN_PID=""
PF_STARTED=0

remove_alternate_directory() {
    local current kept
    current=$(postconf -h alternate_config_directories 2>/dev/null || true)
    kept=$(printf '%s' "$current" | tr ', ' '\n\n' | grep -v -x -F "$PF/etc" | grep -v '^$' | paste -sd, - | sed 's/,/, /g' || true)
    if [ "$kept" != "$current" ]; then
        postconf -e "alternate_config_directories = $kept"
    fi
}

cleanup() {
    local status=$?
    set +e
    if [ "$PF_STARTED" = 1 ]; then
        postfix -c "$PF/etc" stop >/dev/null 2>&1
        local master
        master=$(cat "$PF/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
        for _ in $(seq 50); do
            [ -n "$master" ] && kill -0 "$master" 2>/dev/null || break
            sleep 0.1
        done
        [ -n "$master" ] && kill -KILL "$master" 2>/dev/null
    fi
    remove_alternate_directory
    if [ -n "$POSTERN_PID" ] && kill -0 "$POSTERN_PID" 2>/dev/null; then
        kill -TERM "$POSTERN_PID"
        for _ in $(seq 100); do
            kill -0 "$POSTERN_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$POSTERN_PID" 2>/dev/null
    fi
    if [ "$KEEP" = 1 ] || [ "$status" != 0 ]; then
        echo "logs and queues kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '== %s\n' "$*" >&2; }

# --- prerequisites ----------------------------------------------------------------------------
if ! command -v postfix >/dev/null || ! command -v openssl >/dev/null; then
    step "installing postfix and openssl"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y postfix openssl >/dev/null
fi
for a in $POSTERN_ADDR $POSTFIX_ADDR; do
    ip addr add "$a/32" dev lo 2>/dev/null || true
done
for a in $POSTERN_ADDR $POSTFIX_ADDR; do
    if ss -Hltn "src $a:$PORT" | grep -q .; then
        echo "$a:$PORT is already in use; stop what listens there first" >&2
        exit 1
    fi
done
if [ "$(stat -f -c %T "$WORK")" = tmpfs ]; then
    echo "warning: $WORK is on tmpfs; fsync costs nothing there and the figures mean little" >&2
fi

# --- build ------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    step "building (Release)"
    dotnet build -c Release "$ROOT/src/Postern.Cli/Postern.Cli.csproj" -nologo -v q >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log"; exit 1; }
    dotnet build -c Release "$ROOT/bench/Postern.Bench/Postern.Bench.csproj" -nologo -v q >>"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log"; exit 1; }
fi
POSTERN_DLL="$ROOT/src/Postern.Cli/bin/Release/net10.0/Postern.Cli.dll"
BENCH_DLL="$ROOT/bench/Postern.Bench/bin/Release/net10.0/Postern.Bench.dll"

# --- certificates: a CA and one leaf that both servers present --------------------------------
step "creating certificates"
C="$WORK/certs"
mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.pem" -days 2 \
    -subj "/CN=Bench Test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$C/server.key" -out "$C/server.csr" -subj "/CN=mx.bench.test" 2>/dev/null
cat >"$C/server.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:mx.bench.test,IP:$POSTERN_ADDR,IP:$POSTFIX_ADDR
EOF
openssl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
    -out "$C/server.pem" -days 2 -extfile "$C/server.ext" 2>/dev/null
cat "$C/server.pem" "$C/ca.pem" >"$C/fullchain.pem"
chmod 644 "$C"/*.pem "$C/server.key"

# --- Postern: the queue is held, as Postfix runs without qmgr: both only accept into the queue --
step "starting Postern on $POSTERN_ADDR:$PORT"
mkdir -p "$PS"
cat >"$PS/bench.json" <<EOF
{
  "gateway": {
    "hostName": "mx.bench.test",
    "dataDirectory": "$PS/data",
    "listeners": [ { "endpoint": "$POSTERN_ADDR:$PORT", "security": "StartTls" } ],
    "certificates": [ { "certificateFile": "$C/fullchain.pem", "keyFile": "$C/server.key" } ],
    "limits": { "maxConnections": $LIMIT, "maxConnectionsPerClient": $LIMIT },
    "dns": { "servers": [ "127.0.0.1:9" ] },
    "queue": { "hold": true }
  },
  "organizations": [ { "name": "Bench", "acceptedDomains": [ "bench.test" ] } ]
}
EOF
# Information logs a line per message: to a file, not a terminal.
(cd "$PS" && exec dotnet "$POSTERN_DLL" serve --config "$PS/bench.json" >"$PS/postern.log" 2>&1) &
POSTERN_PID=$!

# --- Postfix: its own instance; no qmgr, so accepted mail stays in the incoming queue ----------
step "starting Postfix on $POSTFIX_ADDR:$PORT"
mkdir -p "$PF/etc" "$PF/queue" "$PF/data"
cat >"$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
myhostname = mx.bench.test
mydomain = bench.test
myorigin = \$mydomain
mydestination =
relay_domains = bench.test
inet_interfaces = $POSTFIX_ADDR
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtpd_banner = \$myhostname ESMTP
default_process_limit = $LIMIT
smtpd_client_connection_count_limit = $LIMIT
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_peername_lookup = no
# Without qmgr nobody hands cleanup flow-control tokens; the default 1s pause per message would
# measure that, not smtpd. A delivering qmgr would hand them out as fast as it delivers.
in_flow_delay = 0s
smtpd_tls_chain_files = $C/server.key, $C/fullchain.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 0
maillog_file_prefixes = $WORK
maillog_file = $PF/maillog
EOF
# The system's master.cf with the smtpd on our address, no chroot (the queue is a fresh directory),
# and without qmgr; postlogd writes maillog_file (there is no syslog).
awk -v listen="$POSTFIX_ADDR:$PORT" '
    /^#/ || /^[ \t]*$/ { print; next }
    /^[ \t]/ { if (!skip) print; next }
    { skip = 0 }
    $1 == "qmgr" || $1 == "postlog" { skip = 1; next }
    $1 == "smtp" && $2 == "inet" { $1 = listen }
    NF >= 8 { $5 = "n" }
    { print }
    END { print "postlog   unix-dgram n  -       n       -       1       postlogd" }
' /etc/postfix/master.cf >"$PF/etc/master.cf"
chown postfix "$PF/data"
current=$(postconf -h alternate_config_directories 2>/dev/null || true)
postconf -e "alternate_config_directories = ${current:+$current, }$PF/etc"
postfix -c "$PF/etc" check >"$PF/check.log" 2>&1 || { cat "$PF/check.log"; exit 1; }
postfix -c "$PF/etc" set-permissions >>"$PF/check.log" 2>&1 || true
PF_STARTED=1
postfix -c "$PF/etc" start >>"$PF/check.log" 2>&1 || { cat "$PF/check.log"; exit 1; }

wait_port() {
    for _ in $(seq 150); do
        if ss -Hltn "src $1:$PORT" | grep -q .; then return 0; fi
        if [ "$2" = postern ] && ! kill -0 "$POSTERN_PID" 2>/dev/null; then
            cat "$PS/postern.log" >&2; return 1
        fi
        sleep 0.2
    done
    echo "$2 is not listening on $1:$PORT" >&2
    return 1
}
wait_port $POSTERN_ADDR postern
wait_port $POSTFIX_ADDR postfix
PF_MASTER=$(tr -d ' ' <"$PF/queue/pid/master.pid")

# --- the runs ---------------------------------------------------------------------------------
RESULTS="$WORK/results.txt"
: >"$RESULTS"

queue_files() { find "$1" -type f | wc -l; }

run_one() { # server mode round
    local server=$1 mode=$2 round=$3 addr pid queue extra=()
    if [ "$server" = postern ]; then
        addr=$POSTERN_ADDR pid=$POSTERN_PID queue="$PS/data/spool/queue"
    else
        addr=$POSTFIX_ADDR pid=$PF_MASTER queue="$PF/queue/incoming"
    fi
    [ "$mode" = new-connection ] && extra+=(--new-connection-per-message)
    local out="$WORK/run-$server-$mode-$round.txt" before stored
    # The queues are not emptied between runs: deleting thousands of files makes ext4's inode
    # allocator skip the recently freed inodes for minutes (recently_deleted), which would slow
    # whichever server runs next.
    before=$(queue_files "$queue")
    dotnet "$BENCH_DLL" --server "$addr:$PORT" --server-name mx.bench.test --connections "$CONNECTIONS" \
        --duration "$DURATION" --warmup "$WARMUP" --server-pid "$pid" --label "$server" "${extra[@]}" >"$out" 2>&1 || true
    sed 's/^/   /' "$out" | grep -v '^   RESULT' >&2
    stored=$(( $(queue_files "$queue") - before ))
    echo "   new files in the queue (warm-up and measured): $stored" >&2
    grep '^RESULT' "$out" | sed "s/\$/ round=$round stored=$stored/" >>"$RESULTS" || true
    sync
}

# One untimed pass each, so that Postern's JIT and both servers' process pools are warm.
step "warming up both servers"
for a in $POSTERN_ADDR $POSTFIX_ADDR; do
    dotnet "$BENCH_DLL" --server "$a:$PORT" --server-name mx.bench.test --connections "$CONNECTIONS" \
        --duration 3 --warmup 0 >/dev/null 2>&1 || true
done

for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        # Alternate which server goes first.
        if [ $((round % 2)) = 1 ]; then order="postern postfix"; else order="postfix postern"; fi
        for server in $order; do
            step "round $round/$ROUNDS, $mode, $server"
            run_one "$server" "$mode" "$round"
        done
    done
done

if ! grep -q . "$RESULTS"; then
    echo "no results" >&2
    exit 1
fi

# --- the table: medians over the rounds -------------------------------------------------------
echo
echo "Acceptance into the durable queue: $CONNECTIONS STARTTLS clients, 10 KB messages," \
    "$ROUNDS round(s) of ${DURATION}s after ${WARMUP}s warm-up; medians over the rounds."
echo "$(nproc) CPU(s), $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r)"
awk '
    function get(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        key = get("label") SUBSEP get("mode")
        rate[key] = rate[key] " " get("rate"); p50[key] = p50[key] " " get("p50"); p99[key] = p99[key] " " get("p99")
        errs[key] += get("errors"); srv[key] = srv[key] " " get("server_cpu"); gen[key] = gen[key] " " get("gen_cpu")
        busy[key] = busy[key] " " get("machine_busy")
        if (!(get("mode") in seen)) { seen[get("mode")] = 1; modes[++nm] = get("mode") }
    }
    END {
        printf "\n%-8s %-15s %9s %8s %8s %7s %10s %10s %8s\n", "server", "mode", "msgs/s", "p50 ms", "p99 ms", "errors", "server CPU", "client CPU", "machine"
        for (m = 1; m <= nm; m++) {
            for (s = 1; s <= 2; s++) {
                name = s == 1 ? "postern" : "postfix"; key = name SUBSEP modes[m]
                if (!(key in rate)) continue
                r[name] = median(rate[key])
                printf "%-8s %-15s %9.1f %8.2f %8.2f %7d %10.2f %10.2f %7.0f%%\n", name, modes[m], r[name], median(p50[key]), median(p99[key]), errs[key], median(srv[key]), median(gen[key]), median(busy[key])
            }
            if (r["postfix"] > 0) printf "ratio Postern/Postfix (%s): %.2f\n", modes[m], r["postern"] / r["postfix"]
            delete r
        }
        print "\n(server/client CPU in cores; machine = busy share of all cores during the measured window)"
    }
' "$RESULTS"
echo
echo "per run:"
sed 's/^RESULT /  /' "$RESULTS"
