"""Submit commands to job ClassAd attributes, for the simulated schedd.

`htcondor2.Submit.jobs()` does not work offline, so the fake expands a description with
`classad.facade.expand_submit` and maps each command through this table, the way
condor_submit does for the commands aglidein uses.
"""

from __future__ import annotations

from collections.abc import Mapping

from aglidein.classad.facade import AdValue, ExprSyntaxError, parse_expr

__all__ = ["UNIVERSES", "classad_literal", "job_attributes"]

UNIVERSES = {"vanilla": 5, "scheduler": 7, "grid": 9, "java": 10, "local": 12, "container": 5}

# submit command (lowercase) -> job attribute; values are copied as strings
_STRING_COMMANDS = {
    "executable": "Cmd",
    "arguments": "Args",
    "environment": "Environment",
    "grid_resource": "GridResource",
    "transfer_input_files": "TransferInput",
    "should_transfer_files": "ShouldTransferFiles",
    "when_to_transfer_output": "WhenToTransferOutput",
    "output": "Out",
    "error": "Err",
    "log": "UserLog",
    "notification": "JobNotification",
    "scitokens_file": "ScitokensFile",
    "x509userproxy": "x509userproxy",
    "initialdir": "Iwd",
}
# submit command -> job attribute; values are ClassAd expressions
_EXPR_COMMANDS = {
    "transfer_executable": "TransferExecutable",
    "batch_runtime": "BatchRuntime",
    "request_cpus": "RequestCpus",
    "request_memory": "RequestMemory",
    "request_disk": "RequestDisk",
    "periodic_remove": "PeriodicRemove",
    "periodic_hold": "PeriodicHold",
    "periodic_release": "PeriodicRelease",
    "requirements": "Requirements",
}


def job_attributes(commands: Mapping[str, str]) -> dict[str, AdValue]:
    """The job attributes an expanded description sets (`MY.X`/`+X` become `X`).

    Unknown plain commands are kept as `SubmitCommand_<name>` strings so a test can see
    them; a `+X` value that is not a ClassAd expression raises ValueError.
    """
    ad: dict[str, AdValue] = {}
    for raw_name, value in commands.items():
        name = raw_name.strip()
        lower = name.lower()
        if lower.startswith(("my.", "+")):
            attr = name[3:] if lower.startswith("my.") else name[1:]
            ad[attr] = classad_literal(value, attr)
        elif lower == "universe":
            universe = value.strip().lower()
            if universe not in UNIVERSES:
                raise ValueError(f"unknown universe {value!r}")
            ad["JobUniverse"] = UNIVERSES[universe]
        elif lower in _STRING_COMMANDS:
            text = value.strip()
            if lower == "environment" and len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1]
            ad[_STRING_COMMANDS[lower]] = text
        elif lower in _EXPR_COMMANDS:
            ad[_EXPR_COMMANDS[lower]] = classad_literal(value, _EXPR_COMMANDS[lower])
        else:
            ad[f"SubmitCommand_{lower}"] = value
    return ad


def classad_literal(text: str, attr: str) -> AdValue:
    """A ClassAd literal as a Python value; anything else stays an expression."""
    stripped = text.strip()
    try:
        expr = parse_expr(stripped)
    except ExprSyntaxError:
        raise ValueError(f"{attr}: not a ClassAd expression: {text!r}") from None
    if stripped.startswith('"') or stripped.lower() in ("true", "false"):
        value = expr.evaluate()
        if isinstance(value, str | bool):
            return value
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return expr
