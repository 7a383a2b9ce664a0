#!/usr/bin/env bats
# lib/attrs.sh: the attrs file is parsed (never sourced), whatever the quoting style.

load helpers/common

@test "values quoted by Python's shlex.quote or as 'it'\\''s' read back exactly" {
    "$PYTHON" - "$BATS_TEST_TMPDIR" <<'PY'
import json, shlex, sys
from pathlib import Path
d = Path(sys.argv[1])
values = {
    "A_PLAIN": "T2_US_Site", "B_NUM": "8", "C_QUOTE": "it's", "D_DQ": 'say "hi"',
    "E_DOLLAR": "$HOME $(rm -rf /) `id`", "F_SPACES": "  a  b  ", "G_NEWLINE": "one\ntwo",
    "H_BACKSLASH": "a\\b\\'c", "I_EMPTY": "", "J_UTF8": "café 😀", "K_EQ": "x=y=z",
    "L_HASH": "# not a comment",
}
lines = [f"{k}={shlex.quote(v)}" for k, v in values.items()]
q = "'\\''"
lines.append("M_SHELL='" + "it's $x".replace("'", q) + "'")
values["M_SHELL"] = "it's $x"
lines += ["# a comment", "", "   "]
(d / "attrs").write_text("\n".join(lines) + "\n")
(d / "want.json").write_text(json.dumps(values, sort_keys=True))
PY
    run bash -c '
        . "$1/lib/attrs.sh"
        attrs_load "$2/attrs" || { echo "error: $ATTRS_ERROR"; exit 1; }
        for k in "${!GLIDEIN_ATTR[@]}"; do printf "%s\0%s\0" "$k" "${GLIDEIN_ATTR[$k]}"; done >"$2/got"
        ' _ "$GLIDEIN" "$BATS_TEST_TMPDIR"
    echo "$output"
    [ "$status" -eq 0 ]
    run "$PYTHON" -c '
import json, sys
parts = open(sys.argv[1], "rb").read().split(b"\0")[:-1]
got = {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts), 2)}
want = json.load(open(sys.argv[2]))
assert got == want, (got, want)' "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/want.json"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "a bad line is reported, the good ones are still read, nothing is executed" {
    printf "GOOD='yes'\nrm -rf /tmp/x\nX=\$(touch %s/pwned)\nOPEN='never closed\n" "$BATS_TEST_TMPDIR" \
        >"$BATS_TEST_TMPDIR/attrs"
    run bash -c '
        . "$1/lib/attrs.sh"
        attrs_load "$2/attrs"; rc=$?
        echo "rc=$rc good=$(attr_get GOOD) x=$(attr_get X) err=$ATTRS_ERROR"' _ "$GLIDEIN" "$BATS_TEST_TMPDIR"
    echo "$output"
    [[ $output == "rc=1 good=yes x=\$(touch "*"/pwned) err=line 4: unterminated quote" ]]
    [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
}
