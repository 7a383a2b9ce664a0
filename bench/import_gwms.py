"""Benchmark: `aglidein import-gwms` on generated factory XML with many entries.

Prints figures; asserts nothing. Usage: .venv/bin/python bench/import_gwms.py [N ...]
(default 1000 and 5000 entries, spread over 4 entry files, plus a frontend).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from aglidein.config import parse_config_text
from aglidein.gwms import import_gwms

_GRIDS = (
    ("condor", "ce{i}.example.org ce{i}.example.org:9619", "scitoken"),
    ("condor", "ce{i}.example.org ce{i}.example.org:9619", "grid_proxy"),
    ("batch slurm", "user{i}@login{i}.example.org", "key_pair"),
    ("arc", "https://arc{i}.example.org:443/arex", "scitoken;project_id"),
    ("gt2", "gk{i}.example.org/jobmanager-pbs", "grid_proxy"),
)


def entry_xml(i: int) -> str:
    """One realistic factory entry (about 40 lines, like a production entry file)."""
    gridtype, gatekeeper, auth = _GRIDS[i % len(_GRIDS)]
    attrs = "\n".join(
        f'            <attr name="{name}" const="True" glidein_publish="True" job_publish="False" '
        f'parameter="True" publish="True" type="{kind}" value="{value}"/>'
        for name, kind, value in (
            ("GLIDEIN_Site", "string", f"Site_{i % 300}"),
            ("GLIDEIN_ResourceName", "string", f"Resource_{i}"),
            ("GLIDEIN_CPUS", "int", str(1 + i % 16)),
            ("GLIDEIN_MaxMemMBs", "int", str(2000 * (1 + i % 16))),
            ("GLIDEIN_Max_Walltime", "int", "172800"),
            ("GLIDEIN_Retire_Time", "int", "21600"),
            ("GLIDEIN_Supported_VOs", "string", "OSG,CMS,ATLAS"),
            ("GLIDEIN_HAS_CVMFS", "expr", "True"),
            ("CONDOR_OS", "string", "rhel9"),
            ("CONDOR_ARCH", "string", "x86_64"),
        )
    )
    return f"""      <entry name="ENTRY_{i:06d}" auth_method="{auth}" enabled="{i % 7 != 0}"
             gatekeeper="{gatekeeper.format(i=i)}" gridtype="{gridtype}" rsl="(queue=q{i % 5})"
             trust_domain="grid" verbosity="std" work_dir="OSG">
         <config>
            <max_jobs>
               <default_per_frontend glideins="{1000 + i}" held="50" idle="{100 + i % 50}"/>
               <per_entry glideins="{2000 + i % 3000}" held="1000" idle="2000"/>
               <per_frontends></per_frontends>
            </max_jobs>
            <release max_per_cycle="20" sleep="0.2"/>
            <remove max_per_cycle="5" sleep="0.2"/>
            <restrictions require_voms_proxy="False"/>
            <submit cluster_size="10" max_per_cycle="100" sleep="0.2" slots_layout="partitionable">
               <submit_attrs>
                  <submit_attr name="+maxMemory" value="{2000 * (1 + i % 16)}"/>
                  <submit_attr name="+queue" value="&quot;q{i % 5}&quot;"/>
               </submit_attrs>
            </submit>
         </config>
         <allow_frontends></allow_frontends>
         <attrs>
{attrs}
         </attrs>
         <files></files>
         <infosys_refs></infosys_refs>
         <monitorgroups></monitorgroups>
      </entry>
"""


FRONTEND = """<frontend frontend_name="bench" loop_delay="60">
   <match match_expr="True" start_expr="True">
      <factory query_expr="True"><match_attrs></match_attrs><collectors></collectors></factory>
      <job query_expr="(JobUniverse==5)"><match_attrs></match_attrs>
         <schedds><schedd fullname="schedd1.example.org"/></schedds></job>
   </match>
   <security><credentials>
      <credential absfname="/etc/gwms/proxy.pem" trust_domain="grid" type="grid_proxy"/>
      <credential absfname="/etc/gwms/osg.token" trust_domain="grid" type="scitoken"/>
   </credentials></security>
   <groups>
      <group name="main" enabled="True">
         <config><idle_glideins_per_entry max="100" reserve="5"/></config>
         <match match_expr='glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")'>
            <factory query_expr="(GLIDEIN_Site=!=UNDEFINED)">
               <match_attrs><match_attr name="GLIDEIN_Site" type="string"/></match_attrs>
            </factory>
            <job query_expr="(DESIRED_Sites=!=UNDEFINED)">
               <match_attrs><match_attr name="DESIRED_Sites" type="string"/></match_attrs>
            </job>
         </match>
      </group>
   </groups>
   <collectors><collector node="cm.example.org:9618" secondary="False"/></collectors>
</frontend>
"""


def write_inputs(directory: Path, count: int, files: int = 4) -> tuple[list[Path], Path]:
    """`count` entries over `files` entry files, plus a frontend file."""
    paths = []
    for part in range(files):
        body = "".join(entry_xml(i) for i in range(part, count, files))
        path = directory / f"entries_{part}.xml"
        path.write_text(
            f'<glidein factory_name="bench">\n   <entries>\n{body}   </entries>\n</glidein>\n'
        )
        paths.append(path)
    frontend = directory / "frontend.xml"
    frontend.write_text(FRONTEND)
    return paths, frontend


def run(count: int) -> None:
    """Import `count` entries and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        factory_files, frontend = write_inputs(Path(tmp), count)
        xml_bytes = sum(p.stat().st_size for p in factory_files)
        start = time.perf_counter()
        result = import_gwms(factory_files, frontend)
        total = time.perf_counter() - start
        start = time.perf_counter()
        parse_config_text(result.text)
        validate = time.perf_counter() - start
    summary = result.summary
    print(
        f"import-gwms {count} entries ({xml_bytes / 1e6:.1f} MB XML -> "
        f"{len(result.text) / 1e6:.1f} MB YAML): {total:.2f} s total "
        f"({count / total:,.0f} entries/s, output validated); a separate "
        f"`aglidein check-config` of that output: {validate:.2f} s; {summary.enabled} enabled, "
        f"{summary.entries - summary.enabled} disabled, {summary.warnings} report warnings"
    )


def main() -> None:
    """Run the sizes given on the command line."""
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 5000]
    for count in sizes:
        run(count)


if __name__ == "__main__":
    main()
