#!/bin/bash
# shellcheck shell=bash disable=SC2034  # globals set here are return values
# The entry attrs file: one NAME=VALUE a line, VALUE single-quoted for the shell
# ('it'\''s' style). It is parsed here, never sourced.
#
#   attrs_load FILE        fill GLIDEIN_ATTR[NAME]=VALUE; returns 1 on a bad line
#   attr_get NAME [DEF]    print the value (or DEF)
#   attr_quote VALUE       sets ATTR_Q to VALUE single-quoted in the same format

declare -gA GLIDEIN_ATTR=()
ATTRS_ERROR=""

# _attrs_unquote RAW: sets ATTR_V to the shell word RAW without its quoting.
# Accepts 'single quoted' parts, \x escapes and bare characters; returns 1 on an
# unterminated quote (the caller may then join the next line).
_attrs_unquote() {
    local raw=$1 out="" c rest
    while [[ -n $raw ]]; do
        c=${raw:0:1}
        if [[ $c == "'" ]]; then
            rest=${raw:1}
            [[ $rest == *"'"* ]] || return 1
            out+=${rest%%"'"*}
            raw=${rest#*"'"}
        elif [[ $c == "\\" ]]; then
            out+=${raw:1:1}
            raw=${raw:2}
        elif [[ $c == '"' ]]; then
            rest=${raw:1}
            [[ $rest == *'"'* ]] || return 1
            out+=${rest%%'"'*}
            raw=${rest#*'"'}
        else
            out+=$c
            raw=${raw:1}
        fi
    done
    ATTR_V=$out
}

# attrs_load FILE: parse FILE into GLIDEIN_ATTR. Blank lines and # comments are
# skipped; a bad line sets ATTRS_ERROR and makes the call return 1 (after
# loading every good line).
attrs_load() {
    local file=$1 line pending="" name value lineno=0 bad=0
    ATTRS_ERROR=""
    [[ -r $file ]] || { ATTRS_ERROR="cannot read $file"; return 1; }
    while IFS= read -r line || [[ -n $line ]]; do
        ((lineno++))
        if [[ -n $pending ]]; then
            line="$pending"$'\n'"$line"
            pending=""
        fi
        [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
        if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_.]*)=(.*)$ ]]; then
            ATTRS_ERROR="line $lineno: not NAME=VALUE"
            bad=1
            continue
        fi
        name=${BASH_REMATCH[1]}
        value=${BASH_REMATCH[2]}
        if ! _attrs_unquote "$value"; then
            pending=$line
            continue
        fi
        GLIDEIN_ATTR[$name]=$ATTR_V
    done <"$file"
    if [[ -n $pending ]]; then
        ATTRS_ERROR="line $lineno: unterminated quote"
        bad=1
    fi
    return "$bad"
}

attr_get() {
    if [[ -n ${GLIDEIN_ATTR[$1]+set} ]]; then
        printf '%s' "${GLIDEIN_ATTR[$1]}"
    else
        printf '%s' "${2-}"
    fi
}

attr_quote() {
    local q="'\\''"
    ATTR_Q="'${1//\'/$q}'"
}
