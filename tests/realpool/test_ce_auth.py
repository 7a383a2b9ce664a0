"""CE authentication on real daemons: the credential the factory's gridmanager shows the
CE is not the pool IDTOKEN. With FS authentication off at the site and distinct trust
domains, glideins reach the site only with a token signed by the site's key, kept in the
C-GAHP's token directory and named as an `idtoken` credential of the entry."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.realpool.factory import entry_yaml, start_factory, user_jobs, wait_for
from tests.realpool.pool import PoolInstance
from tests.realpool.topology import Topology

NO_FS = (
    "SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS\n"
    "SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS, ANONYMOUS\n"
    "SEC_READ_AUTHENTICATION_METHODS = IDTOKENS, ANONYMOUS\n"
)


def restart_schedd(pool: PoolInstance) -> None:
    """Restart the schedd; return once the new one answers."""
    pool.restart_schedd()


def give_to(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@pytest.mark.timeout(420)
def test_glideins_reach_a_site_without_fs_only_with_the_ce_token(
    realpool: Topology, vo_env: PoolInstance, tmp_path: Path
) -> None:
    vo, site = realpool.vo, realpool.site
    assert vo.trust_domain != site.trust_domain
    token_dir = realpool.base / "ce-tokens"
    token_dir.mkdir(mode=0o700, exist_ok=True)
    give_to(token_dir, vo.user)
    site.add_config("90-no-fs", NO_FS)
    vo.add_config(
        "90-ce-tokens",
        f"C_GAHP.SEC_TOKEN_DIRECTORY = {token_dir}\n"
        f"C_GAHP_WORKER_THREAD.SEC_TOKEN_DIRECTORY = {token_dir}\n",
    )
    try:
        restart_schedd(site)
        restart_schedd(vo)

        # 1. the pool IDTOKEN alone: the gridmanager cannot authenticate to the CE
        blind = start_factory(tmp_path / "blind", realpool, entry_yaml("SITE_A", realpool))
        ours = f'AglideinFactory == "{blind.name}"'
        try:
            user_jobs(blind, realpool, "SITE_A", 1)
            held = wait_for(
                lambda: vo.jobs(f"{ours} && JobStatus == 5", ["HoldReason"]),
                180,
                "a glidein held for want of CE authentication",
            )
            assert "authenticate" in str(held[0]["HoldReason"]).lower(), held
        finally:
            blind.cleanup(realpool)

        # 2. a token signed by the site's key in the C-GAHP's directory: glideins run there
        token = token_dir / "site-ce"
        token.write_text(site.mint_token(f"{site.user}@{site.trust_domain}") + "\n")
        token.chmod(0o600)
        give_to(token, vo.user)
        entries = entry_yaml(
            "SITE_A", realpool, auth="{method: idtoken, credential: site-ce}", max_idle_s=20
        )
        credentials = f"credentials:\n  - {{name: site-ce, type: idtoken, path: {token}}}\n"
        factory = start_factory(tmp_path / "ce", realpool, entries, tail=credentials)
        try:
            cluster = user_jobs(factory, realpool, "SITE_A", 1)
            done = wait_for(
                lambda: vo.history(f"ClusterId == {cluster} && JobStatus == 4", ["LastRemoteHost"]),
                240,
                "the user job to complete on a glidein",
            )
            assert "glidein_" in str(done[0]["LastRemoteHost"])
            [credential] = factory.get("/api/v1/status")["credentials"]
            assert credential["name"] == "site-ce"
            assert credential["last_error"] is None
        finally:
            factory.cleanup(realpool)
    finally:
        for pool, name in ((site, "90-no-fs"), (vo, "90-ce-tokens")):
            (pool.base / "config.d" / name).unlink(missing_ok=True)
            pool.run("condor_reconfig", "-all", check=False)
        restart_schedd(site)
