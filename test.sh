#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine:
#   installs the mail peers the interop tests talk to, assigns the loopback
#   addresses they listen on, builds in Release with warnings as errors and runs
#   every test. Extra arguments go to `dotnet test` (e.g. ./test.sh --filter Smtp).
# Ends with one line "N passed, N failed[, N skipped]"; exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")"
repo_root=$(pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '==> %s\n' "$*"; }

as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "test.sh: '$*' needs root (run as root or with passwordless sudo)" >&2
        return 1
    fi
}

# --- Debian packages --------------------------------------------------------
# libnet-ssleay-perl gives swaks its TLS support (only a Recommends of swaks);
# ca-certificates gives /etc/ssl/certs for posttls-finger and openssl.
packages=(postfix swaks libnet-ssleay-perl unbound dnsutils openssl ca-certificates
          iproute2 faketime ldnsutils)

is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ ${status} == "install ok installed" ]]
}

missing=()
for p in "${packages[@]}"; do
    is_installed "${p}" || missing+=("${p}")
done

if ((${#missing[@]} > 0)); then
    log "installing missing packages: ${missing[*]}"
    # Postfix must not ask questions nor write a system configuration: tests run
    # their own throwaway instances.
    echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    for p in "${missing[@]}"; do
        is_installed "${p}" || { echo "test.sh: package ${p} did not install" >&2; exit 1; }
    done
else
    log "required packages already installed"
fi

# --- Loopback addresses -----------------------------------------------------
# 127.0.0.0/8 is routed to lo but not assigned; Postfix refuses to listen on an
# address that is not assigned to an interface.
for n in $(seq 2 15); do
    addr="127.0.0.${n}"
    # Compare captured text: with pipefail, `ip | grep -q` fails when grep exits early.
    if [[ $(ip -4 -o addr show dev lo) != *" ${addr}/"* ]]; then
        # Another process may assign it at the same moment; only a missing address is an error.
        if ! out=$(as_root ip addr add "${addr}/32" dev lo 2>&1) &&
            [[ $(ip -4 -o addr show) != *" ${addr}/"* ]]; then
            echo "test.sh: ip addr add ${addr}: ${out}" >&2
            exit 1
        fi
    fi
done
log "loopback addresses 127.0.0.2-127.0.0.15 assigned"

# --- No system Postfix on port 25 -------------------------------------------
# The default instance would hold *:25 and collide with the per-test instances.
if [[ -f /etc/postfix/main.cf ]] && command -v postfix >/dev/null 2>&1; then
    if as_root postfix status >/dev/null 2>&1; then
        log "stopping the system Postfix instance"
        as_root postfix stop || true
        for _ in $(seq 1 20); do
            as_root postfix status >/dev/null 2>&1 || break
            sleep 0.5
        done
    fi
fi
if command -v ss >/dev/null 2>&1; then
    wildcard25=$(ss -H -ltn 'sport = :25' 2>/dev/null | awk '{print $4}' | grep -E '^(0\.0\.0\.0|\*|\[::\]):25$' || true)
    if [[ -n ${wildcard25} ]]; then
        echo "test.sh: something listens on all addresses at port 25 (${wildcard25//$'\n'/ }); interop tests need it free:" >&2
        ss -ltnp 'sport = :25' >&2 || true
        exit 1
    fi
fi

# --- Build and test ---------------------------------------------------------
solution=Postern.slnx
results_dir="${repo_root}/TestResults"
rm -rf "${results_dir}"

log "dotnet restore"
dotnet restore "${solution}"

log "dotnet build -c Release"
dotnet build "${solution}" -c Release --no-restore -warnaserror

log "dotnet test"
set +e
dotnet test "${solution}" --no-build -c Release \
    --results-directory "${results_dir}" \
    --logger "console;verbosity=normal" \
    --logger "trx;LogFileName=results.trx" \
    --blame-hang-timeout 5m \
    "$@"
test_rc=$?
set -e

# --- Summary ----------------------------------------------------------------
passed=0 failed=0 skipped=0 found=0
shopt -s nullglob globstar
for trx in "${results_dir}"/**/*.trx; do
    counters=$(grep -o '<Counters [^>]*>' "${trx}" | head -n1 || true)
    [[ -n ${counters} ]] || continue
    found=1
    attr() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"${counters}"; }
    total=$(attr total); executed=$(attr executed)
    p=$(attr passed); f=$(attr failed); e=$(attr error); t=$(attr timeout); a=$(attr aborted)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
    skipped=$((skipped + ${total:-0} - ${executed:-0}))
done

if ((found == 0)); then
    echo "test.sh: no test results were written (dotnet test exit code ${test_rc})" >&2
    failed=$((failed > 0 ? failed : 1))
fi
if ((test_rc != 0 && failed == 0)); then
    # A crashed or hung test host can leave counters that show no failure.
    echo "test.sh: dotnet test exited with ${test_rc}" >&2
    failed=1
fi

summary="${passed} passed, ${failed} failed"
((skipped > 0)) && summary+=", ${skipped} skipped"
echo "${summary}"
((failed == 0))
