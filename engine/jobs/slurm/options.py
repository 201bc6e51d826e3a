"""What a Slurm job asks for ([slurm] in the recipe, or flags) and the sbatch script it becomes."""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.errors import BadInput

WARNING = "slurm.warning"
"""The file where the sbatch script notes Slurm's time-limit warning: "JOBID RESTARTS"."""
SCRIPT = "slurm.sbatch"
"""The sbatch script's name in the job folder (`sbatch` it by hand to run the job again)."""

OURS = {
    "job-name",
    "chdir",
    "output",
    "error",
    "open-mode",
    "requeue",
    "no-requeue",
    "signal",
    "wrap",
    "nodes",
    "ntasks-per-node",
    "export",
    "parsable",
    "wait",
}
"""sbatch options the script sets itself: --slurm-arg may not set them."""
KEY = re.compile(r"[a-z][a-z0-9-]{0,40}")
TIME = re.compile(r"(\d+-)?\d+(:\d+){0,2}|\d+-\d+|infinite|UNLIMITED", re.IGNORECASE)
MEM = re.compile(r"\d+[KMGT]?", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z0-9_.,:@%+=/-]{1,200}")


@dataclass
class SlurmOptions:
    """The resources and behaviour asked of Slurm for one job."""

    partition: str | None = None
    time: str | None = None
    nodes: int = 1
    tasks_per_node: int = 1
    """Processes per node (DDP ranks): --nproc-per-node, else gpus_per_node, else 1."""
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    account: str | None = None
    qos: str | None = None
    warn_seconds: int = 120
    """Slurm sends the batch step USR1 this long before the time limit: checkpoint and requeue."""
    max_requeues: int = 3
    """The job requeues itself at most this many times (time limit, preemption)."""
    hello_seconds: int = 60
    """The node's hello must reach the job folder within this long, or it is not shared storage."""
    args: dict[str, str] = field(default_factory=dict)
    """Any other sbatch option, `key = "value"` (`--key=value`)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the options as status.json keeps them."""
        return asdict(self)


def _bad(what: str, why: str, fix: str) -> BadInput:
    return BadInput(what, why, fix)


FORMATS: dict[str, tuple[re.Pattern[str], str, str, str]] = {
    name: (WORD, "is not valid", "it must be 1-200 letters, digits or . _ , : @ % + = / -", f'{name} = "gpu"')
    for name in ("partition", "account", "qos")
} | {
    "time": (TIME, "is not a time limit", "Slurm takes MINUTES, HH:MM:SS or DAYS-HH[:MM[:SS]]", "2:00:00"),
    "mem": (MEM, "is not an amount of memory", "Slurm takes a number with an optional K, M, G or T", "16G"),
}
"""The text options: the pattern a value must match whole, and the words when it does not."""


def _text_option(name: str, value: Any) -> str:
    """Return `value` when FORMATS' pattern for `name` matches all of it, else BadInput."""
    if name == "time" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = str(value)  # time = 30 in TOML: minutes, as sbatch --time=30 reads it
    pattern, is_not, why, example = FORMATS[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value[:80]) if isinstance(value, str) else repr(value)[:80]
        raise _bad(f"Slurm {name} {shown} {is_not}", why, f"give e.g. {example}")
    return value


def _count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100_000:
        raise _bad(
            f"Slurm {name} must be a whole number of at least {low}",
            f"got {value!r}",
            f"give e.g. {name} = {max(low, 1)}",
        )
    return value


def parse_args(pairs: list[str] | dict[str, Any]) -> dict[str, str]:
    """Return --slurm-arg KEY=VALUE pairs (or a table) as {key: value}, refusing unsafe ones."""
    if not isinstance(pairs, (list, dict)) or not all(isinstance(p, str) for p in pairs):
        raise _bad(
            "[slurm] args must be a table of sbatch options",
            f"got {str(pairs)[:80]!r}",
            'write [slurm.args] with lines like constraint = "a100"',
        )
    items = (
        pairs.items()
        if isinstance(pairs, dict)
        else [(p.split("=", 1)[0], p.split("=", 1)[1] if "=" in p else "") for p in pairs]
    )
    out: dict[str, str] = {}
    for key, value in items:
        key = str(key).strip().lstrip("-")
        if not KEY.fullmatch(key):
            raise _bad(
                f"--slurm-arg {key[:40]!r} is not an sbatch option name",
                "a name is lower-case letters, digits and '-'",
                "write e.g. --slurm-arg constraint=a100 (see `man sbatch`)",
            )
        if key in OURS:
            raise _bad(
                f"--slurm-arg {key} is set by ptm-tui itself",
                "the job's script needs its own value for it",
                "use the matching ptm-tui flag (--nodes, --nproc-per-node, --time-warning)",
            )
        value = str(value)
        if value and not WORD.fullmatch(value):
            raise _bad(
                f"--slurm-arg {key}={value[:60]!r} has characters an sbatch line cannot hold safely",
                "values are letters, digits and . _ , : @ % + = / -",
                "quote nothing; write e.g. --slurm-arg mail-type=END,FAIL",
            )
        out[key] = value
    return out


def options_from(table: dict[str, Any] | None, flags: dict[str, Any]) -> SlurmOptions:
    """Return the options of a recipe's [slurm] table overridden by the flags given (not None)."""
    table = dict(table or {})
    known = {f.name for f in fields(SlurmOptions)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise _bad(
            f"[slurm] has unknown keys {', '.join(unknown)}",
            f"[slurm] takes {', '.join(sorted(known))}",
            'put other sbatch options in [slurm.args], e.g. constraint = "a100"',
        )
    args = parse_args(table.pop("args", {}) or {})
    args.update(parse_args(flags.pop("args", None) or []))
    merged = {**table, **{k: v for k, v in flags.items() if v is not None}}
    options = SlurmOptions(args=args)
    for name in FORMATS:
        if merged.get(name) is not None:
            setattr(options, name, _text_option(name, merged[name]))
    for name in (
        "nodes",
        "tasks_per_node",
        "gpus_per_node",
        "cpus_per_task",
        "max_requeues",
        "warn_seconds",
        "hello_seconds",
    ):
        if merged.get(name) is not None:
            low = 0 if name in ("max_requeues", "gpus_per_node") else 1
            setattr(options, name, _count(name, merged[name], low))
    if merged.get("tasks_per_node") is None and options.gpus_per_node:
        options.tasks_per_node = options.gpus_per_node
    return options


def script(job_dir: Path, options: SlurmOptions, token: str) -> str:
    """Return the sbatch script that runs the job (no value from the environment is in it).

    sbatch passes the submitting shell's environment to the job (its default --export=ALL);
    the script names only the job folder, this Python and the options asked for.
    """
    job = job_dir.name
    lines = [
        "#!/bin/bash",
        f"# ptm-tui job {job}: `sbatch {SCRIPT}` in the job folder runs it again",
        "# the job folder must be on storage that every node shares, at this path",
        f"#SBATCH --job-name=ptm-{job}",
        f"#SBATCH --chdir={job_dir}",
        f"#SBATCH --output={job_dir}/log.txt",
        "#SBATCH --open-mode=append",
        "#SBATCH --requeue",
        f"#SBATCH --signal=B:USR1@{options.warn_seconds}",
        f"#SBATCH --nodes={options.nodes}",
        f"#SBATCH --ntasks-per-node={options.tasks_per_node}",
    ]
    named = {
        "partition": options.partition,
        "time": options.time,
        "mem": options.mem,
        "account": options.account,
        "qos": options.qos,
        "gpus-per-node": options.gpus_per_node,
        "cpus-per-task": options.cpus_per_task,
    }
    for key, value in {**{k: v for k, v in named.items() if v is not None}, **options.args}.items():
        lines.append(f"#SBATCH --{key}" + (f"={value}" if value != "" else ""))
    command = [sys.executable, "-m", "engine.jobs.slurm.batch", str(job_dir), token]
    lines += [
        "",
        "# Slurm's warning (USR1) can come within a second of the start on a short --time, before",
        "# Python could catch it: this shell keeps it in a file that the batch step watches.",
        f"trap 'echo \"$SLURM_JOB_ID ${{SLURM_RESTART_COUNT:-0}}\" > {WARNING}' USR1",
        "trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT",
        " ".join(shlex.quote(part) for part in command) + " &",
        "child=$!",
        "while :; do",
        '    wait "$child"; code=$?',
        '    kill -0 "$child" 2>/dev/null || exit "$code"  # else a trap woke the wait up',
        "done",
        "",
    ]
    return "\n".join(lines)
