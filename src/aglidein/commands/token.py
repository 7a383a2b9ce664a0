"""`aglidein token idtoken|log|rotate-log-key`: mint tokens and manage the log key."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from aglidein.config import Config, expand_path, load_config
from aglidein.core.tokens import GLIDEIN_AUTHZ
from aglidein.credentials import PoolSigningKey, glidein_token_lifetime, write_token_file
from aglidein.errors import AglideinError, CredentialError
from aglidein.logkeys import PREV_KEY_FILE, LogKeyring, key_id
from aglidein.units import parse_duration

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add `token` and its actions."""
    token = subparsers.add_parser("token", help="mint IDTOKENs and log tokens, rotate the log key")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)

    idtoken = actions.add_parser(
        "idtoken",
        help="mint an HTCondor IDTOKEN from a signing key file (like condor_token_create)",
    )
    idtoken.add_argument("--key", required=True, help="the signing key file; its name is the kid")
    idtoken.add_argument("--trust-domain", required=True, help="the pool's TRUST_DOMAIN (iss)")
    idtoken.add_argument("--identity", required=True, help="who the token names (sub)")
    idtoken.add_argument(
        "--lifetime", help="e.g. 7d, 12h; default: no expiry, as condor_token_create"
    )
    idtoken.add_argument(
        "--scope",
        help=f"comma-separated authorizations (default: {','.join(GLIDEIN_AUTHZ)})",
    )
    idtoken.add_argument("--output", "-o", help="write the token to this file (0600)")
    idtoken.set_defaults(func=mint_idtoken_command)

    logtoken = actions.add_parser(
        "log", help="mint per-glidein log tokens, one per line (creates the log key if missing)"
    )
    logtoken.add_argument("--config", "-c", required=True, help="the YAML config file")
    logtoken.add_argument("--entry", required=True, help="the entry the glideins belong to")
    logtoken.add_argument(
        "--glidein", required=True, action="append", help="a glidein id (repeatable)"
    )
    logtoken.set_defaults(func=mint_log_tokens)

    rotate = actions.add_parser(
        "rotate-log-key",
        help="retire the log-signing key (it keeps verifying its tokens) and make a new one",
    )
    rotate.add_argument("--config", "-c", required=True, help="the YAML config file")
    rotate.add_argument(
        "--force",
        action="store_true",
        help="rotate even if the previous key may still have live tokens (they stop verifying)",
    )
    rotate.set_defaults(func=rotate_log_key)


def _duration(text: str, what: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise AglideinError(f"{what}: {exc}") from None


def mint_idtoken_command(args: argparse.Namespace) -> int:
    """Print (or write) one IDTOKEN."""
    key = PoolSigningKey.load(args.key)
    lifetime = None if args.lifetime is None else _duration(args.lifetime, "--lifetime")
    authz = GLIDEIN_AUTHZ
    if args.scope is not None:
        authz = tuple(part.strip() for part in args.scope.split(",") if part.strip())
    token = key.mint(
        trust_domain=args.trust_domain,
        identity=args.identity,
        now=time.time(),
        lifetime=lifetime,
        authz=authz,
    )
    if args.output:
        write_token_file(expand_path(args.output), token)
    else:
        sys.stdout.write(token + "\n")
    return 0


def mint_log_tokens(args: argparse.Namespace) -> int:
    """Print one log token per `--glidein`, in order."""
    config = load_config(args.config).config
    try:
        entry = config.entry(args.entry)
    except KeyError:
        raise AglideinError(f"no entry {args.entry!r} in {args.config}") from None
    keyring = LogKeyring.load(Path(config.factory.state_dir))
    lifetime = glidein_token_lifetime(config, entry)
    now = time.time()
    tokens = [keyring.mint(g, entry.name, now=now, lifetime=lifetime) for g in args.glidein]
    sys.stdout.write("".join(token + "\n" for token in tokens))
    return 0


def longest_token_lifetime(config: Config) -> float:
    """The longest a log token of this config lives (max over entries of max_walltime + 1 h)."""
    lifetimes = [glidein_token_lifetime(config, entry) for entry in config.entries]
    return max(lifetimes, default=config.factory.glidein.max_walltime + 3600.0)


def rotate_log_key(args: argparse.Namespace) -> int:
    """Retire the current log key to `.prev` and create a new one."""
    config = load_config(args.config).config
    state_dir = Path(config.factory.state_dir)
    now = time.time()
    lifetime = longest_token_lifetime(config)
    retired_at = LogKeyring.previous_rotated_at(state_dir)
    if retired_at is not None and retired_at + lifetime > now and not args.force:
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(retired_at + lifetime))
        raise CredentialError(
            f"{state_dir / PREV_KEY_FILE} may still verify live tokens until {until}; "
            "rotating again now would make them fail (use --force to do it anyway)"
        )
    keyring = LogKeyring.rotate(state_dir)
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + lifetime))
    previous = "none" if keyring.previous is None else key_id(keyring.previous)
    sys.stdout.write(
        f"new log key {keyring.kid}; previous key {previous} verifies its tokens "
        f"(they expire by {until})\n"
    )
    return 0
