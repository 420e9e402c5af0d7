"""CLI commands ``radiogenomics run`` (the Snakemake workflow) and ``radiogenomics report``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from .._validation import InputError, MissingDataFileError
from ._app import CONFIG_HELP, app, cli_errors, default, stage_options

PROFILES = ("local", "slurm")


def workflow_root() -> Path:
    """Folder holding ``workflow/Snakefile`` and ``profiles/`` (the repository's ``workflows/``).

    ``RADIOGENOMICS_WORKFLOW`` overrides it (for installs outside a clone).

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get("RADIOGENOMICS_WORKFLOW")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "workflows")
    for cand in candidates:
        if (cand / "workflow" / "Snakefile").exists():
            return cand
    raise MissingDataFileError(
        f"cannot find workflow/Snakefile in {', '.join(map(str, candidates))}; "
        "run from a clone of the repository or set RADIOGENOMICS_WORKFLOW to its workflows/ folder."
    )


def snakemake_command(
    config: Path,
    *,
    cores: int = 1,
    profile: str | None = None,
    directory: Path | None = None,
    dry_run: bool = False,
    extra: list[str] | None = None,
) -> tuple[list[str], Path]:
    """The Snakemake command line that runs the workflow on ``config``, and its working folder.

    Parameters
    ----------
    config
        Config file (YAML); relative paths inside it are relative to ``directory``.
    cores
        Cores for local jobs.
    profile
        ``local``, ``slurm`` (the shipped profiles) or a profile folder.
    directory
        Working folder (default: the config file's folder, or its parent when that folder is
        named ``config``, as in the workflow catalog's ``config/config.yaml``).
    dry_run
        Only print what would run.
    extra
        More Snakemake arguments.

    Returns
    -------
    tuple of (list of str, pathlib.Path)
        The argument vector and the working folder.
    """
    root = workflow_root()
    config = Path(config).resolve()
    if not config.exists():
        raise MissingDataFileError(f"{config}: config file not found.")
    if directory is None:  # catalog layout: <dir>/config/config.yaml runs in <dir>
        directory = config.parent.parent if config.parent.name == "config" else config.parent
    workdir = Path(directory).resolve()
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(root / "workflow" / "Snakefile"),
        "--configfile", str(config),
        "--directory", str(workdir),
        "--cores", str(cores),
        "--rerun-incomplete",        # a job interrupted mid-way is redone, never trusted
        "--show-failed-logs",
        "--printshellcmds",
    ]
    if profile:
        prof = root / "profiles" / profile if profile in PROFILES else Path(profile).resolve()
        if not (prof / "config.yaml").exists():
            raise InputError(
                f"The 'profile' parameter of run must be one of {', '.join(PROFILES)} or a folder with "
                f"config.yaml. Got {profile!r} instead."
            )
        cmd += ["--profile", str(prof)]
    if dry_run:
        cmd.append("--dry-run")
    cmd += list(extra or [])
    return cmd, workdir


def run_workflow(
    config: Path,
    *,
    cores: int = 1,
    profile: str | None = None,
    directory: Path | None = None,
    dry_run: bool = False,
    extra: list[str] | None = None,
    quiet: bool = False,
) -> int:
    """Run the Snakemake workflow in a subprocess; return its exit status.

    Parameters
    ----------
    config, cores, profile, directory, dry_run, extra
        See :func:`snakemake_command`.
    quiet
        Capture Snakemake's output and show it only on failure.

    Returns
    -------
    int
        Snakemake's exit status.
    """
    from .._config import load_config

    load_config(config)  # plain YAML, validated by the package before Snakemake parses anything
    cmd, workdir = snakemake_command(config, cores=cores, profile=profile, directory=directory,
                                     dry_run=dry_run, extra=extra)
    env = dict(os.environ)
    # rules call the `radiogenomics` script of this installation even when its bin/ is not on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    if quiet:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-20000:] + proc.stderr[-20000:])
        return proc.returncode
    return subprocess.run(cmd, cwd=workdir, env=env, check=False).returncode


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@cli_errors
def run(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", help="Workflow config (YAML); see workflows/config/config.yaml."),
    cores: int = typer.Option(1, "--cores", min=1, help="Cores for local jobs."),
    profile: str = typer.Option(None, "--profile", help="Snakemake profile: local, slurm or a folder."),
    directory: Path = typer.Option(None, "--directory", help="Working folder (default: the config's folder; its parent for config/config.yaml)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Only show what would run."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786): image "
                                  "extraction and perturbation association run on that cluster (config: scheduler)."),
) -> None:
    """Run the whole workflow (Snakemake); rerunning continues where an interrupted run stopped.

    Arguments after the options are passed to Snakemake unchanged.
    """
    extra = list(ctx.args)
    if scheduler:
        extra = ["--config", f"scheduler={scheduler}", *extra]
    started = time.time()
    code = run_workflow(config, cores=cores, profile=profile, directory=directory, dry_run=dry_run, extra=extra)
    if code != 0:
        for log_file, line in failed_stage_logs(config, directory=directory, since=started):
            typer.echo(f"error: {log_file}: {line}", err=True)
        typer.echo(f"error: the workflow failed (snakemake exit status {code}); see the logs above.", err=True)
        raise typer.Exit(code=code)


def failed_stage_logs(config: Path, *, directory: Path | None = None, since: float = 0.0) -> list[tuple[Path, str]]:
    """The stage logs written since ``since`` that end with an error line, and that line.

    Parameters
    ----------
    config
        The workflow config (its ``results`` folder holds ``logs/``).
    directory
        The working folder (as for :func:`snakemake_command`).
    since
        Only logs modified after this time (seconds since the epoch).

    Returns
    -------
    list of (pathlib.Path, str)
    """
    from .._config import load_config

    try:
        cfg = load_config(config)
    except Exception:  # noqa: BLE001 - the summary is a courtesy; the failure was reported already
        return []
    config = Path(config).resolve()
    if directory is None:
        directory = config.parent.parent if config.parent.name == "config" else config.parent
    logs = Path(directory) / cfg["results"] / "logs"
    out = []
    for path in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        if path.stat().st_mtime < since:
            continue
        errors = [ln for ln in path.read_text(errors="replace").splitlines() if ln.startswith("error: ")]
        if errors:
            out.append((path, errors[-1][len("error: "):]))
    return out


@app.command("report")
@cli_errors
def report(
    ctx: typer.Context,
    results: Path = typer.Option(..., "--results", help="The workflow's results folder."),
    out: Path = typer.Option(..., "--out", help="HTML file to write."),
    figures: Path = typer.Option(None, "--figures", help="Also save the report's figures as PNG here."),
    synthetic: bool = typer.Option(
        None, "--synthetic/--not-synthetic",
        help="Show the SYNTHETIC DATA banner (default: when the provenance says so).",
    ),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    title: str = typer.Option(default("report", "title"), "--title", help="Report title."),
) -> None:
    """Render the results folder as one self-contained HTML report."""
    from .._io import write_json
    from .._provenance import build_provenance
    from .._results import read_results
    from ..report import render

    opts = stage_options(ctx, "report", {"title": title}, config)
    loaded = read_results(results)
    if not loaded.stages():
        raise InputError(f"{results}: no stage result found; run the workflow (or a stage command) first.")
    path = render(loaded, out, synthetic=synthetic, figures_dir=figures, **opts)
    record = build_provenance("report", parameters={"results": str(results), **opts},
                              synthetic=loaded.synthetic if synthetic is None else synthetic,
                              extra={"html": str(out), "stages": list(loaded.stages())})
    write_json({"stages": {"report": record}, "synthetic": record["synthetic"]}, out.parent / "provenance.json")
    typer.echo(str(path))
