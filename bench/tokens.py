"""How fast glidein tokens are minted and verified (a submission of N glideins mints N of
each) and how long a refresh command round trip takes. Prints figures; asserts nothing."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import anyio

from aglidein.config import parse_config_text
from aglidein.core.tokens import mint_idtoken
from aglidein.logkeys import LogKeyring
from aglidein.services.refresh import run_refresh_command


def rate(label: str, count: int, fn: object) -> None:
    """Run `fn(i)` `count` times and print the rate."""
    assert callable(fn)
    started = time.perf_counter()
    for i in range(count):
        fn(i)
    elapsed = time.perf_counter() - started
    print(f"{label:<40} {count / elapsed:>10,.0f}/s  ({elapsed * 1e6 / count:.1f} µs each)")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    key_file = os.urandom(64)
    now = time.time()
    rate(
        "IDTOKEN mint (HKDF + picojson + HS256)",
        count,
        lambda i: mint_idtoken(
            key_name="POOL",
            key_file=key_file,
            trust_domain="cm.example.org",
            identity="glidein@cm.example.org",
            now=now,
            jti=secrets.token_hex(16),
            lifetime=49 * 3600,
        ),
    )
    keyring = LogKeyring(os.urandom(32))
    tokens = [keyring.mint(f"g-{i}", "CE1", now=now, lifetime=3600) for i in range(count)]
    rate(
        "log token mint (PyJWT)",
        count,
        lambda i: keyring.mint(f"g-{i}", "CE1", now=now, lifetime=3600),
    )
    rate("log token verify (PyJWT)", count, lambda i: keyring.verify(tokens[i], now=now))

    with tempfile.TemporaryDirectory() as tmp:
        text = f"""\
factory: {{name: b, state_dir: {tmp}}}
pool: {{collector: c:9618, trust_domain: t, signing_key: {tmp}/POOL}}
credentials:
  - {{name: osg, type: scitoken, path: {tmp}/osg.token,
     refresh_command: [sh, -c, 'echo tok > "$AGLIDEIN_CREDENTIAL_OUT"']}}
"""
        credential = parse_config_text(text).config.credential("osg")
        runs = 50

        async def refreshes() -> float:
            started = time.perf_counter()
            for _ in range(runs):
                await run_refresh_command(credential, Path(tmp))
            return time.perf_counter() - started

        elapsed = anyio.run(refreshes)
        print(
            f"{'refresh command round trip (sh -c echo)':<40} {elapsed * 1e3 / runs:>10.1f} ms each"
        )


if __name__ == "__main__":
    main()
