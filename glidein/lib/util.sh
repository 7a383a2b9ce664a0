#!/bin/bash
# shellcheck shell=bash disable=SC2034  # globals set here are return values
# Small helpers shared by glidein_startup.sh and the validation scripts.

# now_epoch: sets NOW to the current time in epoch seconds (no fork).
now_epoch() { printf -v NOW '%(%s)T' -1; }

# run_with_timeout SECONDS COMMAND [ARGS...]: run COMMAND, killing it (TERM, then
# KILL after 2 s) when it outlives SECONDS. Returns its status, or 124 on timeout.
# Works without coreutils' timeout(1).
run_with_timeout() {
    local secs=$1 pid rc waited=0
    shift
    "$@" &
    pid=$!
    RUN_WITH_TIMEOUT_PID=$pid
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= secs * 10)); then
            kill -TERM "$pid" 2>/dev/null
            sleep 2
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            RUN_WITH_TIMEOUT_PID=""
            return 124
        fi
        sleep 0.1
        ((waited++))
    done
    wait "$pid"
    rc=$?
    RUN_WITH_TIMEOUT_PID=""
    return "$rc"
}

# is_number VALUE: integer or decimal number.
is_number() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; }

# to_int VALUE DEFAULT: sets INT to VALUE when it is a non-negative integer, else DEFAULT.
to_int() {
    if [[ $1 =~ ^[0-9]+$ ]]; then INT=$((10#$1)); else INT=$2; fi
}
