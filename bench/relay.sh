#!/usr/bin/env bash
# Relay benchmark: N STARTTLS clients send to a relay, which delivers over verified STARTTLS to a
# sink; Postern and Postfix relay the same load to the same sink in the same run, one after the
# other. The figure is end to end: messages delivered at the sink per second, from the first
# message sent to the relay until the sink has delivered every message the relay accepted.
# See bench/README.md.
#
# usage: bench/relay.sh [--connections N] [--messages M] [--rounds R] [--size BYTES]
#                       [--sink tls|postfix] [--drain-timeout S] [--keep] [--no-build]
set -euo pipefail

CONNECTIONS=16
MESSAGES=2000
ROUNDS=3
SIZE=10240
DRAIN_TIMEOUT=120
KEEP=0
BUILD=1
SINK=tls
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --messages) MESSAGES=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --sink) SINK=$2; shift 2 ;;
        --drain-timeout) DRAIN_TIMEOUT=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case "$SINK" in tls|postfix) ;; *) echo "--sink: tls or postfix" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
POSTERN_ADDR=127.0.0.12
POSTFIX_ADDR=127.0.0.13
SINK_ADDR=127.0.0.14
PORT=2525
SINK_PORT=2526
LIMIT=$((CONNECTIONS * 2 + 20))

if [ "$(id -u)" != 0 ]; then
    echo "relay.sh runs as root (it assigns loopback addresses and starts Postfix instances)" >&2
    exit 1
fi

# Both relays' queues on the same disk; the sink's queue on tmpfs: the sink is the measuring
# device, shared by both relays, and its own fsyncs must not be the bottleneck.
WORK=$(mktemp -d /var/tmp/postern-relay.XXXXXX)
SINKDIR=$(mktemp -d /dev/shm/postern-relay-sink.XXXXXX)
chmod 755 "$WORK" "$SINKDIR"
PS="$WORK/postern"
PF="$WORK/postfix"
SK="$SINKDIR"
POSTERN_PID=""
SINK_PID=""
STARTED=()

remove_alternate_directory() { # config dir
    local current kept
    current=$(postconf -h alternate_config_directories 2>/dev/null || true)
    kept=$(printf '%s' "$current" | tr ', ' '\n\n' | grep -v -x -F "$1" | grep -v '^$' | paste -sd, - | sed 's/,/, /g' || true)
    if [ "$kept" != "$current" ]; then
        postconf -e "alternate_config_directories = $kept"
    fi
}

stop_postfix() { # instance dir
    local master
    postfix -c "$1/etc" stop >/dev/null 2>&1
    master=$(cat "$1/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
    for _ in $(seq 50); do
        [ -n "$master" ] && kill -0 "$master" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$master" ] && kill -KILL "$master" 2>/dev/null
    remove_alternate_directory "$1/etc"
}

cleanup() {
    local status=$?
    set +e
    for dir in "${STARTED[@]}"; do stop_postfix "$dir"; done
    [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null
    if [ -n "$POSTERN_PID" ] && kill -0 "$POSTERN_PID" 2>/dev/null; then
        kill -TERM "$POSTERN_PID"
        for _ in $(seq 100); do
            kill -0 "$POSTERN_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$POSTERN_PID" 2>/dev/null
    fi
    if [ "$KEEP" = 1 ] || [ "$status" != 0 ]; then
        cp "$SK/maillog" "$WORK/sink-maillog" 2>/dev/null
        echo "logs and queues kept in $WORK (sink log copied to $WORK/sink-maillog)"
    else
        rm -rf "$WORK"
    fi
    rm -rf "$SINKDIR"
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
[ -f /etc/postfix/main.cf ] || echo "compatibility_level = 3.6" >/etc/postfix/main.cf
for a in $POSTERN_ADDR $POSTFIX_ADDR $SINK_ADDR; do
    ip addr add "$a/32" dev lo 2>/dev/null || true
done
for ep in $POSTERN_ADDR:$PORT $POSTFIX_ADDR:$PORT $SINK_ADDR:$SINK_PORT; do
    if ss -Hltn "src $ep" | grep -q .; then
        echo "$ep is already in use; stop what listens there first" >&2
        exit 1
    fi
done

# --- build ------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    step "building (Release)"
    dotnet build -c Release "$ROOT/src/Postern.Cli/Postern.Cli.csproj" -nologo -v q >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log"; exit 1; }
    dotnet build -c Release "$ROOT/bench/Postern.Bench/Postern.Bench.csproj" -nologo -v q >>"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log"; exit 1; }
    dotnet build -c Release "$ROOT/bench/Postern.Sink/Postern.Sink.csproj" -nologo -v q >>"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log"; exit 1; }
fi
POSTERN_DLL="$ROOT/src/Postern.Cli/bin/Release/net10.0/Postern.Cli.dll"
BENCH_DLL="$ROOT/bench/Postern.Bench/bin/Release/net10.0/Postern.Bench.dll"
SINK_DLL="$ROOT/bench/Postern.Sink/bin/Release/net10.0/Postern.Sink.dll"

# --- certificates: a CA, the relays' certificate and the sink's ------------------------------
step "creating certificates"
C="$WORK/certs"
mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.pem" -days 2 \
    -subj "/CN=Bench Test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
issue() { # stem cn sans
    openssl req -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$2" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$3" >"$C/$1.ext"
    openssl x509 -req -in "$C/$1.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
        -out "$C/$1.pem" -days 2 -extfile "$C/$1.ext" 2>/dev/null
    cat "$C/$1.pem" "$C/ca.pem" >"$C/$1-fullchain.pem"
}
issue relay mx.bench.test "DNS:mx.bench.test,IP:$POSTERN_ADDR,IP:$POSTFIX_ADDR"
issue sink sink.bench.test "DNS:sink.bench.test"
chmod 644 "$C"/*.pem "$C"/*.key

# --- Postfix instances ------------------------------------------------------------------------
# make_postfix DIR ADDR PORT: the system's master.cf with smtpd on ADDR:PORT, no chroot, postlogd;
# main.cf comes from standard input, with the common settings appended.
make_postfix() {
    local dir=$1 addr=$2 port=$3
    mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
    cat >"$dir/etc/main.cf"
    cat >>"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
inet_interfaces = $addr
inet_protocols = ipv4
smtp_bind_address = $addr
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = bench.test
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
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 0
maillog_file_prefixes = $WORK, $SINKDIR
maillog_file = $dir/maillog
EOF
    awk -v listen="$addr:$port" '
        /^#/ || /^[ \t]*$/ { print; next }
        /^[ \t]/ { if (!skip) print; next }
        { skip = 0 }
        $1 == "postlog" { skip = 1; next }
        $1 == "smtp" && $2 == "inet" { $1 = listen }
        NF >= 8 { $5 = "n" }
        { print }
        END { print "postlog   unix-dgram n  -       n       -       1       postlogd" }
    ' /etc/postfix/master.cf >"$dir/etc/master.cf"
    # smtp_tls_connection_reuse hands TLS connections to tlsproxy.
    grep -q '^tlsproxy[[:space:]]' "$dir/etc/master.cf" ||
        echo "tlsproxy  unix  -       -       n       -       0       tlsproxy" >>"$dir/etc/master.cf"
    chown postfix "$dir/data"
    local current
    current=$(postconf -h alternate_config_directories 2>/dev/null || true)
    postconf -e "alternate_config_directories = ${current:+$current, }$dir/etc"
    STARTED+=("$dir")
    postfix -c "$dir/etc" check >"$dir/check.log" 2>&1 || { cat "$dir/check.log"; exit 1; }
    postfix -c "$dir/etc" set-permissions >>"$dir/check.log" 2>&1 || true
    postfix -c "$dir/etc" start >>"$dir/check.log" 2>&1 || { cat "$dir/check.log"; exit 1; }
}

if [ "$SINK" = tls ]; then
    step "starting the sink (bench/Postern.Sink, STARTTLS, discard) on $SINK_ADDR:$SINK_PORT"
    dotnet "$SINK_DLL" --listen "$SINK_ADDR:$SINK_PORT" --cert "$C/sink-fullchain.pem" --key "$C/sink.key" \
        --count-file "$SK/count" --hostname sink.bench.test >"$SK/sink.log" 2>&1 &
    SINK_PID=$!
else
    step "starting the sink (Postfix, STARTTLS, discard) on $SINK_ADDR:$SINK_PORT"
    make_postfix "$SK" $SINK_ADDR $SINK_PORT <<EOF
myhostname = sink.bench.test
smtpd_tls_chain_files = $C/sink.key, $C/sink-fullchain.pem
default_transport = discard:sink
relay_transport = discard:sink
default_destination_concurrency_limit = $LIMIT
EOF
fi

step "starting the Postfix relay on $POSTFIX_ADDR:$PORT"
make_postfix "$PF" $POSTFIX_ADDR $PORT <<EOF
myhostname = mx.bench.test
smtpd_tls_chain_files = $C/relay.key, $C/relay-fullchain.pem
relayhost = [$SINK_ADDR]:$SINK_PORT
# Verified TLS to the sink (as Postern's DomainValidation connector), with session and connection
# reuse (Postern reuses connections too).
smtp_tls_security_level = secure
smtp_tls_CAfile = $C/ca.pem
smtp_tls_policy_maps = inline:{ {[$SINK_ADDR]:$SINK_PORT = secure match=sink.bench.test} }
smtp_tls_connection_reuse = yes
smtp_tls_session_cache_database = btree:\${data_directory}/smtp_scache
smtp_tls_loglevel = 0
EOF

step "starting Postern on $POSTERN_ADDR:$PORT"
mkdir -p "$PS"
cat >"$PS/relay.json" <<EOF
{
  "gateway": {
    "hostName": "mx.bench.test",
    "dataDirectory": "$PS/data",
    "listeners": [ { "endpoint": "$POSTERN_ADDR:$PORT", "security": "StartTls" } ],
    "certificates": [ { "certificateFile": "$C/relay-fullchain.pem", "keyFile": "$C/relay.key" } ],
    "trust": { "useSystemStore": false, "additionalRoots": [ "$C/ca.pem" ] },
    "dns": { "servers": [ "127.0.0.1:9" ] },
    "limits": { "maxConnections": $LIMIT, "maxConnectionsPerClient": $LIMIT },
    "queue": { "hold": false }
  },
  "organizations": [ {
    "name": "Bench",
    "acceptedDomains": [ "bench.test" ],
    "outboundConnectors": [ {
      "name": "To sink", "connectorType": "OnPremises", "allAcceptedDomains": true, "useMxRecord": false,
      "smartHosts": [ "[$SINK_ADDR]:$SINK_PORT" ], "tlsSettings": "DomainValidation", "tlsDomain": "sink.bench.test"
    } ]
  } ]
}
EOF
(cd "$PS" && exec dotnet "$POSTERN_DLL" serve --config "$PS/relay.json" >"$PS/postern.log" 2>&1) &
POSTERN_PID=$!

wait_port() { # addr port name
    for _ in $(seq 150); do
        if ss -Hltn "src $1:$2" | grep -q .; then return 0; fi
        if [ "$3" = postern ] && ! kill -0 "$POSTERN_PID" 2>/dev/null; then
            cat "$PS/postern.log" >&2; return 1
        fi
        sleep 0.2
    done
    echo "$3 is not listening on $1:$2" >&2
    return 1
}
wait_port $SINK_ADDR $SINK_PORT sink
wait_port $POSTFIX_ADDR $PORT postfix
wait_port $POSTERN_ADDR $PORT postern

# --- the runs ---------------------------------------------------------------------------------
RESULTS="$WORK/results.txt"
: >"$RESULTS"

sink_count() {
    if [ "$SINK" = tls ]; then cat "$SK/count" 2>/dev/null || echo 0
    else grep -c 'status=sent' "$SK/maillog" 2>/dev/null || true; fi
}
relay_queue() { # server
    if [ "$1" = postern ]; then
        find "$PS/data/spool/queue" -type f 2>/dev/null | wc -l
    else
        find "$PF/queue/incoming" "$PF/queue/active" "$PF/queue/deferred" "$PF/queue/maildrop" -type f 2>/dev/null | wc -l
    fi
}
now() { date +%s.%N; }

# CPU seconds (user + system) used so far by a process and its children, from /proc: a Postfix
# instance is its master, the children it reaped and those still running; Postern is one process.
TICKS=$(getconf CLK_TCK)
cpu_of_pid() { # pid [with children reaped: 1]
    awk -v t="$TICKS" -v c="${2:-1}" '{ sub(/^.*\) /, ""); s = $12 + $13; if (c) s += $14 + $15; printf "%.3f\n", s / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# The script's reaped children (the load generator, mostly), from the builtin "times" written to $WORK/times.
children_cpu() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$WORK/times"; }
cpu_of() { # postern | postfix | sink
    local master total pid
    if [ "$1" = postern ]; then cpu_of_pid "$POSTERN_PID"; return; fi
    if [ "$1" = sink ] && [ "$SINK" = tls ]; then cpu_of_pid "$SINK_PID" 0; return; fi
    [ "$1" = sink ] && master=$(tr -d ' ' <"$SK/queue/pid/master.pid") || master=$(tr -d ' ' <"$PF/queue/pid/master.pid")
    total=$(cpu_of_pid "$master")
    for pid in $(pgrep -P "$master"); do
        total=$(awk -v a="$total" -v b="$(cpu_of_pid "$pid")" 'BEGIN { printf "%.3f", a + b }')
    done
    echo "$total"
}

# run_one SERVER MESSAGES LABEL: send, then wait until the sink has delivered all accepted messages.
run_one() {
    local server=$1 messages=$2 label=$3 addr out before start accepted errors target delivered end
    [ "$server" = postern ] && addr=$POSTERN_ADDR || addr=$POSTFIX_ADDR
    out="$WORK/run-$label.txt"
    before=$(sink_count)
    local relay_cpu0 sink_cpu0 gen_cpu0 gen_cpu1
    relay_cpu0=$(cpu_of "$server") sink_cpu0=$(cpu_of sink)
    times >"$WORK/times"
    gen_cpu0=$(children_cpu)
    start=$(now)
    dotnet "$BENCH_DLL" --server "$addr:$PORT" --server-name mx.bench.test --connections "$CONNECTIONS" \
        --messages "$messages" --warmup 0 --size "$SIZE" --label "$server" >"$out" 2>&1 || true
    local sent_done
    sent_done=$(now)
    times >"$WORK/times"
    gen_cpu1=$(children_cpu)
    accepted=$(sed -n 's/^RESULT .* count=\([0-9]*\) .*/\1/p' "$out")
    errors=$(sed -n 's/^RESULT .* errors=\([0-9]*\) .*/\1/p' "$out")
    accepted=${accepted:-0} errors=${errors:-0}
    target=$((before + accepted))
    local deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
    while :; do
        delivered=$(sink_count)
        [ "$delivered" -ge "$target" ] && break
        if [ "$(date +%s)" -gt "$deadline" ]; then
            echo "   $server: only $((delivered - before)) of $accepted delivered after ${DRAIN_TIMEOUT}s" >&2
            break
        fi
        sleep 0.1
    done
    end=$(now)
    delivered=$((delivered - before))
    local relay_cpu sink_cpu gen_cpu
    relay_cpu=$(awk -v a="$(cpu_of "$server")" -v b="$relay_cpu0" 'BEGIN { printf "%.3f", a - b }')
    sink_cpu=$(awk -v a="$(cpu_of sink)" -v b="$sink_cpu0" 'BEGIN { printf "%.3f", a - b }')
    gen_cpu=$(awk -v a="$gen_cpu1" -v b="$gen_cpu0" 'BEGIN { printf "%.3f", a - b }')
    # The relay must hold nothing afterwards (nothing deferred, nothing lost on the way).
    local left
    for _ in $(seq 50); do
        left=$(relay_queue "$server")
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    awk -v s="$server" -v l="$label" -v a="$accepted" -v d="$delivered" -v e="$errors" -v q="$left" \
        -v t0="$start" -v t1="$sent_done" -v t2="$end" -v rc="$relay_cpu" -v sc="$sink_cpu" -v gc="$gen_cpu" 'BEGIN {
            printf "RESULT server=%s label=%s accepted=%d delivered=%d errors=%d left=%d send_s=%.2f total_s=%.2f rate=%.1f accept_rate=%.1f relay_cpu_ms=%.2f sink_cpu_ms=%.2f generator_cpu_ms=%.2f\n",
                s, l, a, d, e, q, t1 - t0, t2 - t0, d / (t2 - t0), a / (t1 - t0), 1000 * rc / (d ? d : 1), 1000 * sc / (d ? d : 1), 1000 * gc / (a ? a : 1) }' | tee -a "$RESULTS" | sed 's/^RESULT /   /' >&2
}

step "warming up both relays (untimed)"
run_one postern 300 warmup-postern >/dev/null
run_one postfix 300 warmup-postfix >/dev/null
: >"$RESULTS"

for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="postern postfix"; else order="postfix postern"; fi
    for server in $order; do
        step "round $round/$ROUNDS, $server"
        run_one "$server" "$MESSAGES" "$server-$round"
        sync
    done
done

# --- the table: medians over the rounds -------------------------------------------------------
echo
echo "Relay end to end: $CONNECTIONS STARTTLS clients -> relay -> verified STARTTLS -> sink ($([ "$SINK" = tls ] && echo "bench/Postern.Sink" || echo "Postfix, discard"));"
echo "$MESSAGES messages of $SIZE bytes per run, $ROUNDS round(s); rate = delivered at the sink / (first send .. last delivery)."
echo "$(nproc) CPU(s), $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
    function get(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        s = get("server"); rate[s] = rate[s] " " get("rate"); acc[s] = acc[s] " " get("accept_rate")
        errs[s] += get("errors"); lost[s] += get("accepted") - get("delivered"); left[s] += get("left")
    }
    END {
        printf "\n%-8s %16s %16s %7s %12s %6s\n", "relay", "delivered msgs/s", "accepted msgs/s", "errors", "undelivered", "queued"
        for (k = 1; k <= 2; k++) {
            s = k == 1 ? "postern" : "postfix"
            if (!(s in rate)) continue
            r[s] = median(rate[s])
            printf "%-8s %16.1f %16.1f %7d %12d %6d\n", s, r[s], median(acc[s]), errs[s], lost[s], left[s]
        }
        if (r["postfix"] > 0) printf "ratio Postern/Postfix (delivered msgs/s): %.2f\n", r["postern"] / r["postfix"]
    }
' "$RESULTS"
echo
echo "per run:"
sed 's/^RESULT /  /' "$RESULTS"
