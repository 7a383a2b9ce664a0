"""The simulation behind the fake pool: the glidein lifecycle (idle → running →
completed, held, removed, by entry behaviour) on the factory schedd, with the startd
slots of running glideins handed to the user side (condor/fake_startds.py: user jobs
arriving, matching and finishing).

Time comes from an injected clock; every call into the pool first brings the
simulation up to `clock.now()`, so a test can run a day of cycles in seconds.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence

from aglidein.classad.facade import AdValue, expand_submit
from aglidein.clock import Clock
from aglidein.condor.api import JobAction, SubmitDescription
from aglidein.condor.fake_pilot import (
    as_int,
    local_workdir,
    read_attrs_file,
    str_or_none,
    write_pilot_stderr,
)
from aglidein.condor.fake_schedd import FakeJob, FakeSchedd, JobStatus
from aglidein.condor.fake_startds import Slot, UserPool
from aglidein.condor.local_runner import LocalRunner
from aglidein.condor.scenario import EntryBehaviour, JobSpec, Scenario
from aglidein.condor.submit_table import job_attributes
from aglidein.condor.userlog import append_event, format_event
from aglidein.core.lifecycle import pilot_exit_code
from aglidein.errors import CondorError

__all__ = ["Simulation"]

_SECONDS_ARG = re.compile(r"--(retire-after|max-walltime)\s+(\d+)")
LOCAL_UNIVERSE = 12


class Simulation:
    """The state of a simulated pool and the rules that move it."""

    def __init__(
        self, scenario: Scenario, clock: Clock, *, factory_schedds: Sequence[str] = ("local",)
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.started = clock.now()
        self.rng = random.Random(scenario.seed)
        self.runner = LocalRunner()
        # every factory schedd its own queue and cluster numbering; `factory` is the first
        self.factories = {
            name: FakeSchedd(name, step=self.step, on_submit=self._submit, on_action=self._act)
            for name in factory_schedds or ("local",)
        }
        self.factory = next(iter(self.factories.values()))
        self.users = UserPool(scenario, self.started, self.step)
        self.stuck_removals: set[str] = set()  # entries whose CE never confirms a removal
        self._last = self.started
        self._attrs_files: dict[str, dict[str, AdValue]] = {}

    @property
    def schedds(self) -> dict[str, FakeSchedd]:
        """The user-job schedds, by name."""
        return self.users.schedds

    @property
    def slots(self) -> dict[str, Slot]:
        """The startd slots of the running glideins, by name."""
        return self.users.slots

    def add_jobs(self, schedd: FakeSchedd, spec: JobSpec, count: int) -> None:
        """Queue `count` idle user jobs like `spec` on `schedd`, now."""
        self.users.add_jobs(schedd, spec, count, self.clock.now())

    # --- the step -----------------------------------------------------------------------

    def step(self) -> None:
        """Bring the pool up to the clock: arrivals, glidein and user-job transitions."""
        now = self.clock.now()
        if now < self._last:
            return
        self.users.arrivals(now)
        for job in self._glideins():
            self._advance_glidein(job, now)
        self.users.finish_jobs(now)
        self._retire(now)
        self.users.match(now)
        self._last = now

    def _glideins(self) -> list[FakeJob]:
        """Every job of every factory schedd."""
        return [job for schedd in self.factories.values() for job in list(schedd.jobs.values())]

    def _queue(self, job: FakeJob) -> FakeSchedd:
        """The factory schedd that holds `job`."""
        schedd = job.sim.get("schedd")
        return schedd if isinstance(schedd, FakeSchedd) else self.factory

    def _rid(self, job: FakeJob) -> str:
        """The job's process key in the local runner (unique across factory schedds)."""
        schedd = self._queue(job)
        return job.job_id if schedd is self.factory else f"{job.job_id}@{schedd.name}"

    def _behaviour(self, job: FakeJob) -> EntryBehaviour:
        return self.scenario.behaviour(str(job.ad.get("AglideinEntry", "")))

    def _jitter(self, seconds: float, behaviour: EntryBehaviour) -> float:
        spread = behaviour.jitter
        return max(0.0, seconds * self.rng.uniform(1 - spread, 1 + spread))

    def _advance_glidein(self, job: FakeJob, now: float) -> None:
        status = job.status
        if status == JobStatus.REMOVED:
            entry = str(job.ad.get("AglideinEntry", ""))
            if entry not in self.stuck_removals and now > job.sim.get("removed_at", now):
                del self._queue(job).jobs[job.job_id]
            return
        if status == JobStatus.IDLE and job.sim["start_at"] <= now:
            self._start(job, now)
            status = job.status  # it may also end within this step
        if status == JobStatus.RUNNING:
            if job.ad.get("JobUniverse") == LOCAL_UNIVERSE:
                code = self.runner.poll(self._rid(job))
                if code is not None:
                    self._terminate(job, now, code)
            elif job.sim["end_at"] <= now:
                self._terminate(job, max(job.sim["end_at"], job.sim["started_at"]), None)

    def _start(self, job: FakeJob, now: float) -> None:
        behaviour = self._behaviour(job)
        when = job.sim["start_at"]
        outage = behaviour.outage_at(when - self.started)
        if outage is not None and not outage.hold:
            job.sim["start_at"] = self.started + outage.end + self._jitter(60, behaviour)
            return
        if outage is not None or self.rng.random() < behaviour.hold_rate:
            self.hold(job, when, behaviour.hold_reason, behaviour.hold_reason_code)
            return
        job.ad.update(
            JobStatus=JobStatus.RUNNING,
            EnteredCurrentStatus=int(when),
            JobCurrentStartDate=int(when),
            GridJobStatus="RUNNING",
        )
        if job.ad.get("GridResource"):  # the CE's own id for it, as HTCondor-G records it
            job.ad["GridJobId"] = f"{job.ad['GridResource']} {job.job_id}"
        job.sim["started_at"] = when
        self._log(job, 1, when, "Job executing on host: <127.0.0.1:0?sim>")
        if job.ad.get("JobUniverse") == LOCAL_UNIVERSE:
            problem = self.runner.start(
                self._rid(job),
                str(job.ad.get("Cmd", "")),
                str(job.ad.get("Args", "")),
                str(job.ad.get("Environment", "")),
                str_or_none(job.ad.get("Out")),
                str_or_none(job.ad.get("Err")),
                cwd=local_workdir(job),
            )
            if problem is not None:
                self.hold(job, now, problem, 6)
            return
        run_time = self._jitter(behaviour.run_time, behaviour)
        walltime = job.sim.get("max_walltime")
        roll = self.rng.random()
        fate = "ok"
        if roll < behaviour.failure_rate:
            fate, run_time = "failed", min(run_time, 60.0)
        elif roll < behaviour.failure_rate + behaviour.silent_rate:
            fate = "silent"
        elif roll < behaviour.failure_rate + behaviour.silent_rate + behaviour.black_hole:
            fate = "black_hole"
        job.sim["fate"] = fate
        job.sim["end_at"] = when + (min(run_time, walltime) if walltime else run_time)
        if fate in ("ok", "black_hole"):
            self._add_slots(job, behaviour, black_hole=fate == "black_hole")

    def hold(self, job: FakeJob, when: float, reason: str, code: int, subcode: int = 0) -> None:
        """Put a glidein on hold (a system hold unless `code` is 1, held by the user)."""
        self._stop(job)
        holds = as_int(job.ad.get("NumSystemHolds")) + (0 if code == 1 else 1)
        job.ad.update(
            JobStatus=JobStatus.HELD,
            EnteredCurrentStatus=int(when),
            HoldReason=reason,
            HoldReasonCode=code,
            HoldReasonSubCode=subcode,
            NumSystemHolds=holds,
            GridJobStatus="HELD",
        )
        self._log(job, 12, when, "Job was held.", reason, f"Code {code} Subcode {subcode}")

    def _terminate(self, job: FakeJob, when: float, code: int | None) -> None:
        self._stop(job)
        fate = job.sim.get("fate", "ok")
        if code is None:
            behaviour = self._behaviour(job)
            codes = {"failed": behaviour.exit_code, "black_hole": pilot_exit_code("black_hole")}
            code = codes.get(fate, 0)
        if code < 0:
            body = f"(0) Abnormal termination (signal {-code})"
        else:
            body = f"(1) Normal termination (return value {code})"
        job.ad.update(JobStatus=JobStatus.COMPLETED, ExitCode=code, EnteredCurrentStatus=int(when))
        if job.ad.get("JobUniverse") != LOCAL_UNIVERSE:
            write_pilot_stderr(job, when, str(fate), code)
        self._log(job, 5, when, "Job terminated.", body)
        del self._queue(job).jobs[job.job_id]  # completed jobs leave the queue

    def _stop(self, job: FakeJob) -> None:
        self.runner.stop(self._rid(job))
        self.users.drop_slots(job.ad.get("AglideinId"), self._last)

    # --- the slots a running glidein brings ---------------------------------------------

    def _add_slots(self, job: FakeJob, behaviour: EntryBehaviour, *, black_hole: bool) -> None:
        glidein = str(job.ad.get("AglideinId", job.job_id))
        for index in range(1, self.scenario.slots_per_glidein + 1):
            name = f"slot{index}@glidein_{glidein}@{job.ad.get('AglideinEntry', 'sim')}"
            self.slots[name] = Slot(
                ad={
                    "MyType": "Machine",
                    "Name": name,
                    "Machine": f"glidein-{glidein}",
                    "State": "Unclaimed",
                    "Activity": "Idle",
                    "Start": not black_hole,
                    "Cpus": behaviour.cpus,
                    "Memory": behaviour.memory,
                    "GPUs": 0,
                    "SlotType": "Static",
                    "AglideinId": glidein,
                    "AglideinEntry": job.ad.get("AglideinEntry", ""),
                    "AglideinGroup": job.ad.get("AglideinGroup", ""),
                    "AglideinFactory": job.ad.get("AglideinFactory", ""),
                    "GLIDEIN_BLACKHOLEValue": 1 if black_hole else 0,  # the startd's latch
                    **self._glidein_attrs(job),
                    "GLIDEIN_ToRetire": job.sim["started_at"] + job.sim.get("retire_after", 1e12),
                    "DaemonStartTime": int(job.sim["started_at"]),
                }
            )

    def _glidein_attrs(self, job: FakeJob) -> dict[str, AdValue]:
        """The entry attrs the pilot advertises on its slots: read from the attrs file the
        glidein was given (`--attrs NAME` among its input files)."""
        match = re.search(r"--attrs (\S+)", str(job.ad.get("Args", "")))
        if match is None:
            return {}
        name = os.path.basename(match.group(1))
        inputs = str(job.ad.get("TransferInput", "")).split(",")
        path = next((p.strip() for p in inputs if os.path.basename(p.strip()) == name), None)
        if path is None:
            return {}
        if path not in self._attrs_files:
            self._attrs_files[path] = read_attrs_file(path)
        return dict(self._attrs_files[path])

    def _retire(self, now: float) -> None:
        retiring = self.users.retire(now)
        for job in self._glideins():
            glidein = str(job.ad.get("AglideinId"))
            running = glidein in retiring and job.status == JobStatus.RUNNING
            if running and not self.users.busy(glidein):  # retired, no job left: it exits
                self._terminate(job, now, 0 if job.sim.get("fate") == "ok" else None)

    # --- the factory schedd's hooks ----------------------------------------------------

    def _submit(self, schedd: FakeSchedd, description: SubmitDescription) -> list[FakeJob]:
        now = self.clock.now()
        try:
            rows = expand_submit(description.as_dict(), description.itemdata)
            ads = [job_attributes(row) for row in rows]
        except ValueError as exc:
            raise CondorError(f"submit refused: {exc}") from None
        entry = str(ads[0].get("AglideinEntry", "")) if ads else ""
        behaviour = self.scenario.behaviour(entry)
        outage = behaviour.outage_at(now - self.started)
        if (outage is not None and outage.refuse_submit) or (
            self.rng.random() < behaviour.submit_failure_rate
        ):
            raise CondorError(f"submit to entry {entry} refused (simulated)")
        cluster = schedd.next_cluster
        jobs = []
        for proc, ad in enumerate(ads):
            ad.update(
                ClusterId=cluster,
                ProcId=proc,
                JobStatus=JobStatus.IDLE,
                QDate=int(now),
                EnteredCurrentStatus=int(now),
                NumSystemHolds=0,
                Owner="aglidein",
            )
            job = FakeJob(ad=ad)
            job.sim["schedd"] = schedd
            job.sim["start_at"] = now + self._jitter(behaviour.queue_time, behaviour)
            if str(ad.pop("SubmitCommand_hold", "false")).strip().lower() == "true":
                ad.update(
                    JobStatus=JobStatus.HELD, HoldReason="submitted on hold", HoldReasonCode=1
                )
            for name, seconds in _SECONDS_ARG.findall(str(ad.get("Args", ""))):
                job.sim[name.replace("-", "_")] = float(seconds)
            self._log(job, 0, now, "Job submitted from host: <127.0.0.1:0?sim>")
            jobs.append(job)
        return jobs

    def _act(self, schedd: FakeSchedd, job: FakeJob, action: JobAction, reason: str) -> bool:
        now = self.clock.now()
        status = job.status
        if action is JobAction.REMOVE:
            if status != JobStatus.REMOVED:
                self._stop(job)
                job.ad.update(JobStatus=JobStatus.REMOVED, EnteredCurrentStatus=int(now))
                job.sim["removed_at"] = now
                self._log(job, 9, now, "Job was aborted.", reason or "via condor_rm")
            return True
        if action is JobAction.REMOVE_X:
            if status != JobStatus.REMOVED:
                return False
            del schedd.jobs[job.job_id]
            return True
        if action is JobAction.RELEASE:
            if status != JobStatus.HELD:
                return False
            job.ad.update(JobStatus=JobStatus.IDLE, EnteredCurrentStatus=int(now))
            for attr in ("HoldReason", "HoldReasonCode", "HoldReasonSubCode"):
                job.ad.pop(attr, None)
            behaviour = self._behaviour(job)
            job.sim["start_at"] = now + self._jitter(behaviour.queue_time, behaviour)
            self._log(job, 13, now, "Job was released.", reason or "via condor_release")
            return True
        if action is JobAction.HOLD:
            if status == JobStatus.HELD:
                return True  # the schedd counts it "already done", a success
            if status not in (JobStatus.IDLE, JobStatus.RUNNING):
                return False
            # as the schedd words a user hold: the reason, then who held it
            who = job.ad.get("Owner", "aglidein")
            self.hold(job, now, f"{reason or 'via condor_hold'} (by user {who})", 1)
            return True
        return False

    def _log(self, job: FakeJob, code: int, when: float, text: str, *body: str) -> None:
        path = job.ad.get("UserLog")
        if isinstance(path, str) and path:
            cluster, proc = as_int(job.ad.get("ClusterId")), as_int(job.ad.get("ProcId"))
            append_event(path, format_event(code, cluster, proc, when, text, *body))
