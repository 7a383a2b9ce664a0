#!/bin/bash
# shellcheck shell=bash
# The background flusher: posts the spool written by log.sh to the factory's ingest
# URL in batches, and the bounded final flush at exit.
#
#   flusher_start URL TOKEN_FILE    start the background poster (sets FLUSHER_PID)
#   flusher_stop [TIMEOUT]          final flush, waiting at most TIMEOUT seconds
#   flusher_unsent                  print the records not (yet) accepted
#
# Protocol (DESIGN §8): 200 -> sent; 400 -> the named lines are dropped (kept in
# rejected.ndjson), the rest were stored; 401/403 -> stop posting, keep the spool;
# 413 -> split the batch; 429/503 -> wait Retry-After; anything else or no answer
# -> exponential backoff. Ingest is exactly-once on (glidein, seq): a retry is safe.
#
# Spool files (in GLIDEIN_LOG_DIR): records.ndjson (every record), sent.offset (bytes
# of records.ndjson that are done), rejected.ndjson, final (final-flush deadline,
# epoch seconds), flusher.state (running | auth_failed | finished).

_FLUSH_BATCH_RECORDS=${GLIDEIN_LOG_BATCH_RECORDS:-100}
_FLUSH_BATCH_SECONDS=${GLIDEIN_LOG_BATCH_SECONDS:-5}
_FLUSH_BATCH_BYTES=${GLIDEIN_LOG_BATCH_BYTES:-524288}
_FLUSH_POLL=${GLIDEIN_LOG_POLL_SECONDS:-0.5}
_FLUSH_POST_TIMEOUT=${GLIDEIN_LOG_POST_TIMEOUT:-30}
_FLUSH_CONNECT_TIMEOUT=${GLIDEIN_LOG_CONNECT_TIMEOUT:-10}
_FLUSH_BACKOFF_MAX=${GLIDEIN_LOG_BACKOFF_MAX:-60}
_FLUSH_RETRY_AFTER_MAX=${GLIDEIN_LOG_RETRY_AFTER_MAX:-300}
_FLUSH_GZIP=${GLIDEIN_LOG_GZIP:-1}
FLUSHER_PID=""

_flush_now() { printf -v _FLUSH_NOW '%(%s)T' -1; }

_flush_diag() { printf '%s\n' "flusher: $*" >&2; }

# _flush_read_offset: sets _FLUSH_OFFSET from sent.offset (0 when missing).
_flush_read_offset() {
    _FLUSH_OFFSET=0
    [[ -s "$_LOG_DIR/sent.offset" ]] && read -r _FLUSH_OFFSET <"$_LOG_DIR/sent.offset"
    [[ $_FLUSH_OFFSET =~ ^[0-9]+$ ]] || _FLUSH_OFFSET=0
}

# _flush_build MAX_LINES: writes the next complete lines after the offset to
# batch.ndjson; sets _FLUSH_LINES and _FLUSH_BYTES. A line still being written (no
# newline yet) is left for later: read fails on it, so the loop never takes it.
_flush_build() {
    local LC_ALL=C
    local max=$1 line n=0 bytes=0
    while ((n < max)) && IFS= read -r line; do
        ((n > 0 && bytes + ${#line} + 1 > _FLUSH_BATCH_BYTES)) && break
        printf '%s\n' "$line"
        ((n++))
        ((bytes += ${#line} + 1))
    done < <(tail -c "+$((_FLUSH_OFFSET + 1))" "$_LOG_DIR/records.ndjson" 2>/dev/null) \
        >"$_LOG_DIR/batch.ndjson"
    _FLUSH_LINES=$n
    _FLUSH_BYTES=$bytes
}

# _flush_post: POST batch.ndjson once; sets _FLUSH_CODE (000 on no answer).
_flush_post() {
    local max_time=$1 body="$_LOG_DIR/batch.ndjson" enc=()
    if [[ $_FLUSH_GZIP != 0 ]] && command -v gzip >/dev/null 2>&1; then
        if gzip -c "$_LOG_DIR/batch.ndjson" >"$_LOG_DIR/batch.ndjson.gz" 2>/dev/null; then
            body="$_LOG_DIR/batch.ndjson.gz"
            enc=(-H 'Content-Encoding: gzip')
        fi
    fi
    : >"$_LOG_DIR/response.body"
    : >"$_LOG_DIR/response.headers"
    : >"$_LOG_DIR/response.code"
    # The token travels in a curl config file (0600), never on the command line.
    # curl runs in the background so that flusher_stop can end it by its pid.
    curl -sS -q -K "$_LOG_DIR/curl.conf" -X POST \
        -H 'Content-Type: application/x-ndjson' "${enc[@]}" \
        --data-binary "@$body" --connect-timeout "$_FLUSH_CONNECT_TIMEOUT" \
        --max-time "$max_time" -o "$_LOG_DIR/response.body" \
        -D "$_LOG_DIR/response.headers" -w '%{http_code}' \
        >"$_LOG_DIR/response.code" 2>"$_LOG_DIR/curl.err" &
    local pid=$!
    echo "$pid" >"$_LOG_DIR/curl.pid"
    while kill -0 "$pid" 2>/dev/null; do
        wait "$pid" 2>/dev/null
    done
    rm -f "$_LOG_DIR/curl.pid"
    _FLUSH_CODE=000
    read -r _FLUSH_CODE <"$_LOG_DIR/response.code" 2>/dev/null
    [[ $_FLUSH_CODE =~ ^[0-9]{3}$ ]] || _FLUSH_CODE=000
}

# _flush_retry_after: sets _FLUSH_WAIT from the Retry-After header (seconds form),
# 5 when absent or an HTTP date, capped.
_flush_retry_after() {
    local name value
    _FLUSH_WAIT=5
    while IFS=: read -r name value; do
        if [[ ${name,,} == retry-after ]]; then
            value=${value//[[:space:]]/}
            [[ $value =~ ^[0-9]+$ ]] && _FLUSH_WAIT=$((10#$value))
        fi
    done <"$_LOG_DIR/response.headers"
    ((_FLUSH_WAIT > _FLUSH_RETRY_AFTER_MAX)) && _FLUSH_WAIT=$_FLUSH_RETRY_AFTER_MAX
    ((_FLUSH_WAIT < 1)) && _FLUSH_WAIT=1
}

# _flush_reject_lines: copy the batch lines a 400 names into rejected.ndjson.
# The server numbers lines from 1. Returns 1 when the 400 names no line (the
# request as a whole was refused).
_flush_reject_lines() {
    local resp rest=() n=0 want=" " line
    resp=$(<"$_LOG_DIR/response.body")
    while [[ $resp =~ \"line\"[[:space:]]*:[[:space:]]*([0-9]+) ]]; do
        want+="${BASH_REMATCH[1]} "
        resp=${resp#*"${BASH_REMATCH[0]}"}
    done
    [[ $want == " " ]] && return 1
    while IFS= read -r line; do
        ((n++))
        [[ $want == *" $n "* ]] && rest+=("$line")
    done <"$_LOG_DIR/batch.ndjson"
    ((${#rest[@]})) && printf '%s\n' "${rest[@]}" >>"$_LOG_DIR/rejected.ndjson"
    _flush_diag "server rejected ${#rest[@]} record(s): $(<"$_LOG_DIR/response.body")"
}

_flush_advance() {
    _FLUSH_OFFSET=$((_FLUSH_OFFSET + _FLUSH_BYTES))
    printf '%s\n' "$_FLUSH_OFFSET" >"$_LOG_DIR/sent.offset.tmp"
    mv -f "$_LOG_DIR/sent.offset.tmp" "$_LOG_DIR/sent.offset"
}

# _flush_sleep SECONDS: sleep, but wake up early (return 1) once a final flush is
# requested and its deadline would pass.
_flush_sleep() {
    local secs=$1 end
    _flush_now
    end=$((_FLUSH_NOW + secs))
    while :; do
        _flush_now
        ((_FLUSH_NOW >= end)) && return 0
        if [[ -s "$_LOG_DIR/final" ]]; then
            local deadline=0
            read -r deadline <"$_LOG_DIR/final"
            ((end > deadline)) && return 1
        fi
        sleep 0.5
    done
}

# _flush_loop URL TOKEN_FILE: the flusher process body.
_flush_loop() {
    local url=$1 token_file=$2 token="" backoff=0 pending_since=-1 max_lines
    local deadline=0 final=0 max_time main_pid=$$
    # A TERM to the whole process group must not stop the flusher: the pilot may
    # drain for hours and its records must keep flowing. The pilot asks for the
    # final flush through the `final` file; if the pilot dies, see below.
    trap '' TERM INT HUP
    max_lines=$_FLUSH_BATCH_RECORDS
    read -r token <"$token_file" 2>/dev/null
    url=${url//\\/\\\\}
    url=${url//\"/\\\"}
    (
        umask 077
        printf 'url = "%s"\nheader = "Authorization: Bearer %s"\n' "$url" "${token//[^A-Za-z0-9._~+\/=-]/}" \
            >"$_LOG_DIR/curl.conf"
    )
    echo running >"$_LOG_DIR/flusher.state"
    _flush_read_offset
    while :; do
        if [[ -s "$_LOG_DIR/final" ]]; then
            final=1
            read -r deadline <"$_LOG_DIR/final"
        elif ! kill -0 "$main_pid" 2>/dev/null; then
            # The pilot died without asking for the final flush (kill -9):
            # flush what there is within the usual bound, then go.
            _flush_now
            printf '%s\n' "$((_FLUSH_NOW + ${GLIDEIN_LOG_FLUSH_TIMEOUT:-15}))" >"$_LOG_DIR/final"
            continue
        fi
        _flush_build "$max_lines"
        _flush_now
        if ((_FLUSH_LINES == 0)); then
            pending_since=-1
            ((final)) && break
            sleep "$_FLUSH_POLL"
            continue
        fi
        ((pending_since < 0)) && pending_since=$_FLUSH_NOW
        if ((!final && _FLUSH_LINES < max_lines &&
            _FLUSH_NOW - pending_since < _FLUSH_BATCH_SECONDS)); then
            sleep "$_FLUSH_POLL"
            continue
        fi
        max_time=$_FLUSH_POST_TIMEOUT
        if ((final)); then
            ((deadline - _FLUSH_NOW < 1)) && break
            ((deadline - _FLUSH_NOW < max_time)) && max_time=$((deadline - _FLUSH_NOW))
        fi
        _flush_post "$max_time"
        case $_FLUSH_CODE in
            2??)
                _flush_advance
                backoff=0
                pending_since=-1
                max_lines=$_FLUSH_BATCH_RECORDS
                ;;
            400)
                if _flush_reject_lines; then
                    _flush_advance
                elif [[ $_FLUSH_GZIP != 0 ]]; then
                    # the body itself was refused (e.g. its gzip): go uncompressed
                    _flush_diag "server refused the request body ($(<"$_LOG_DIR/response.body")); posting uncompressed from now on"
                    _FLUSH_GZIP=0
                else
                    _flush_diag "server refused the whole batch ($(<"$_LOG_DIR/response.body")); kept in rejected.ndjson"
                    cat "$_LOG_DIR/batch.ndjson" >>"$_LOG_DIR/rejected.ndjson"
                    _flush_advance
                fi
                backoff=0
                ;;
            401 | 403)
                _flush_diag "log server refused the token (HTTP $_FLUSH_CODE): $(<"$_LOG_DIR/response.body"); not posting any more, spool kept"
                echo auth_failed >"$_LOG_DIR/flusher.state"
                return 0
                ;;
            413)
                if ((_FLUSH_LINES > 1)); then
                    max_lines=$(((_FLUSH_LINES + 1) / 2))
                else
                    _flush_diag "a single record is too large for the server; kept in rejected.ndjson"
                    cat "$_LOG_DIR/batch.ndjson" >>"$_LOG_DIR/rejected.ndjson"
                    _flush_advance
                fi
                ;;
            429 | 503)
                _flush_retry_after
                _flush_diag "log server busy (HTTP $_FLUSH_CODE), retrying in ${_FLUSH_WAIT}s"
                _flush_sleep "$_FLUSH_WAIT" || break
                ;;
            *)
                if ((backoff == 0)); then backoff=1; else backoff=$((backoff * 2)); fi
                ((backoff > _FLUSH_BACKOFF_MAX)) && backoff=$_FLUSH_BACKOFF_MAX
                local why
                why=$(cat "$_LOG_DIR/curl.err" "$_LOG_DIR/response.body" 2>/dev/null | tr '\n' ' ' | head -c 300)
                _flush_diag "posting failed (HTTP $_FLUSH_CODE: $why), retrying in ${backoff}s"
                _flush_sleep "$((backoff + RANDOM % (backoff + 1) / 2))" || break
                ;;
        esac
    done
    echo finished >"$_LOG_DIR/flusher.state"
    return 0
}

# flusher_start URL TOKEN_FILE: run the flusher in the background.
flusher_start() {
    rm -f "$_LOG_DIR/final"
    _flush_loop "$1" "$2" &
    FLUSHER_PID=$!
    echo "$FLUSHER_PID" >"$_LOG_DIR/flusher.pid"
}

# flusher_stop [TIMEOUT]: ask for the final flush and wait for it, never longer
# than TIMEOUT seconds (GLIDEIN_LOG_FLUSH_TIMEOUT, default 15).
flusher_stop() {
    local timeout=${1:-${GLIDEIN_LOG_FLUSH_TIMEOUT:-15}} end
    [[ -n $FLUSHER_PID ]] || return 0
    _flush_now
    end=$((_FLUSH_NOW + timeout))
    # The flusher polls for this file (a signal could arrive before its trap is set).
    printf '%s\n' "$end" >"$_LOG_DIR/final"
    while kill -0 "$FLUSHER_PID" 2>/dev/null; do
        _flush_now
        ((_FLUSH_NOW > end)) && break
        sleep 0.1
    done
    if kill -0 "$FLUSHER_PID" 2>/dev/null; then
        _flush_diag "final flush timed out after ${timeout}s"
        kill -KILL "$FLUSHER_PID" 2>/dev/null
        local curl_pid=""
        read -r curl_pid <"$_LOG_DIR/curl.pid" 2>/dev/null
        [[ $curl_pid =~ ^[0-9]+$ ]] && kill -KILL "$curl_pid" 2>/dev/null
    fi
    wait "$FLUSHER_PID" 2>/dev/null
    FLUSHER_PID=""
    rm -f "$_LOG_DIR/curl.conf"
    return 0
}

# flusher_unsent: print the records that were never accepted (after the offset).
flusher_unsent() {
    _flush_read_offset
    tail -c "+$((_FLUSH_OFFSET + 1))" "$_LOG_DIR/records.ndjson" 2>/dev/null
}
