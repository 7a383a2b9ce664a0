#!/bin/bash
# Outbound reach to the collector (TCP connect to HOST:PORT).
#   GLIDEIN_COLLECTOR (env, from --collector): HOST:PORT
#   GLIDEIN_CONDOR (env): "none" (no-condor mode) makes a failure a warning, since
#     nothing will talk to the collector
#   GLIDEIN_NETWORK_TIMEOUT (env): seconds for the connect, default 10
# shellcheck source=SCRIPTDIR/../lib/validate.sh
. "${BASH_SOURCE[0]%/*}/../lib/validate.sh"
validate_begin network

collector=${GLIDEIN_COLLECTOR-}
[[ -n $collector ]] || validate_skip "no collector given"
host=${collector%:*}
port=${collector##*:}
[[ $port =~ ^[0-9]+$ && $host != "$collector" ]] || port=9618
host=${host#[}
host=${host%]}
timeout=${GLIDEIN_NETWORK_TIMEOUT:-10}

# shellcheck disable=SC2016  # expanded by the inner bash
if run_with_timeout "$timeout" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; then
    validate_pass collector="$collector"
fi
if [[ ${GLIDEIN_CONDOR-} == none ]]; then
    validate_warn "cannot reach the collector $collector (no-condor mode: not needed)" \
        collector="$collector"
fi
validate_fail "cannot reach the collector $collector within ${timeout}s" collector="$collector"
