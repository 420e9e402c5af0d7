"""CLI commands ``radiogenomics run`` (the Snakemake workflow) and ``radiogenomics report``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
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


#: The validated copy of the config that Snakemake parses (JSON: never a YTE template), in the results folder.
RESOLVED_CONFIG = "config.resolved.json"

#: Seconds Snakemake gets after the forwarded signal to stop its jobs and release its lock.
STOP_GRACE_S = 120.0

_REFUSED_EXTRA = ("--configfile", "--configfiles", "--use-yte")


def _working_folder(config: Path, directory: Path | None) -> Path:
    config = Path(config).resolve()
    if directory is None:  # catalog layout: <dir>/config/config.yaml runs in <dir>
        directory = config.parent.parent if config.parent.name == "config" else config.parent
    return Path(directory).resolve()


def _results_folder(cfg: dict, config: Path, directory: Path | None) -> Path:
    """The results folder of a loaded config (``results``, relative to the working folder)."""
    return _working_folder(config, directory) / cfg["results"]


def resolved_config(config: Path, *, directory: Path | None = None, scheduler: str | None = None) -> Path:
    """Validate a workflow config and write the copy Snakemake reads: plain JSON, defaults filled.

    Snakemake parses a YAML config file itself (as a YTE template, which runs Python, when it
    says ``__use_yte__``); a JSON file it reads with :func:`json.load`. The package reads the
    user's YAML with its safe loader, validates it against the schema and writes the result as
    ``<results>/config.resolved.json`` (rewritten only when its content changes), so no config
    can run code and nothing runs on an invalid config.

    Parameters
    ----------
    config
        The user's config (YAML).
    directory
        The working folder (see :func:`snakemake_command`); relative paths in the config are
        relative to it, the copy keeps them as they are.
    scheduler
        A Dask scheduler address to store as the config's ``scheduler``.

    Returns
    -------
    pathlib.Path
        The JSON copy.
    """
    import json

    from .._config import load_config, validate_config
    from .._io import atomic_write

    cfg = load_config(config)
    if scheduler:
        cfg = validate_config({**cfg, "scheduler": scheduler}, name=str(config))
    path = _results_folder(cfg, config, directory) / RESOLVED_CONFIG
    text = json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:
            fh.write(text)
    return path


def interrupted() -> None:
    """Ctrl-C during a workflow (``run``, ``demo``): say how to resume, exit with status 130."""
    typer.echo("interrupted: snakemake stopped its jobs and released its lock; run the same command to "
               "resume.", err=True)
    raise typer.Exit(code=130) from None


def _stop(proc: subprocess.Popen, signum: int, grace: float) -> None:
    """Forward ``signum`` to Snakemake's process group, wait for it, then end what is left of the group."""
    import signal

    def send(sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    send(signum)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()
    send(signal.SIGKILL)  # a job that outlived Snakemake (its lock is released by now)


def _run_forwarding(cmd: list[str], *, cwd: Path, env: dict[str, str], capture: bool) -> tuple[int, str]:
    """Run ``cmd`` in its own process group; SIGINT/SIGTERM to this process are forwarded and waited for."""
    import signal
    import threading

    received: list[int] = []
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None)
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        out, _ = proc.communicate()
        return proc.returncode, out or ""

    def handler(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    chunks: list[str] = []
    reader = None
    if capture:
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
        reader.start()
    try:
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if received:
                    _stop(proc, received[0], STOP_GRACE_S)
                    break
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if reader is not None:
        reader.join(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    if received:
        raise KeyboardInterrupt if received[0] == signal.SIGINT else SystemExit(128 + received[0])
    return proc.returncode, "".join(chunks)


def run_workflow(
    config: Path,
    *,
    cores: int = 1,
    profile: str | None = None,
    directory: Path | None = None,
    dry_run: bool = False,
    extra: list[str] | None = None,
    quiet: bool = False,
    scheduler: str | None = None,
) -> int:
    """Run the Snakemake workflow in a subprocess; return its exit status.

    The config is validated by the package and handed to Snakemake as a JSON copy
    (:func:`resolved_config`). SIGINT and SIGTERM are forwarded to Snakemake (its own process
    group), which stops its jobs and releases its lock; this function waits for it and then
    raises :class:`KeyboardInterrupt` (SIGINT) or :class:`SystemExit` (SIGTERM). The same call
    afterwards resumes (``--rerun-incomplete``).

    Parameters
    ----------
    config, cores, profile, directory, dry_run, extra
        See :func:`snakemake_command`.
    quiet
        Capture Snakemake's output and show it only on failure.
    scheduler
        Dask scheduler address stored as the config's ``scheduler``.

    Returns
    -------
    int
        Snakemake's exit status.
    """
    extra = list(extra or [])
    refused = [a for a in extra if a.split("=", 1)[0] in _REFUSED_EXTRA]
    if refused:
        raise InputError(f"run: {refused[0]} is refused; the workflow reads only the config given with --config "
                         "(validated by the package).")
    workdir = _working_folder(config, directory)
    if not Path(config).exists():
        raise MissingDataFileError(f"{Path(config).resolve()}: config file not found.")
    resolved = resolved_config(config, directory=workdir, scheduler=scheduler)
    cmd, workdir = snakemake_command(resolved, cores=cores, profile=profile, directory=workdir,
                                     dry_run=dry_run, extra=extra)
    env = dict(os.environ)
    # rules call the `radiogenomics` script of this installation even when its bin/ is not on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    code, output = _run_forwarding(cmd, cwd=workdir, env=env, capture=quiet)
    if quiet and code != 0:
        sys.stderr.write(output[-40000:])
    return code


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
    started = time.time()
    try:
        code = run_workflow(config, cores=cores, profile=profile, directory=directory, dry_run=dry_run,
                            extra=extra, scheduler=scheduler)
    except KeyboardInterrupt:
        interrupted()
    if code != 0:
        for log_file, line in failed_stage_logs(config, directory=directory, since=started):
            typer.echo(f"error: {log_file}: {line}", err=True)
        typer.echo(f"error: the workflow failed (snakemake exit status {code}); see the logs above.", err=True)
        raise typer.Exit(code=code)
    if not dry_run:
        from .._results import report_paths

        root = results_root(config, directory=directory)
        html = report_paths(root)[0] if root is not None else None
        if html is not None and html.exists() and html.stat().st_mtime >= started:
            typer.echo(f"report: {html}")


def results_root(config: Path, *, directory: Path | None = None) -> Path | None:
    """The results folder a workflow config names (``None`` when the config cannot be read).

    Parameters
    ----------
    config
        The workflow config.
    directory
        The working folder (as for :func:`snakemake_command`; default: the config's folder, its
        parent for ``config/config.yaml``).

    Returns
    -------
    pathlib.Path or None
    """
    from .._config import load_config

    try:
        cfg = load_config(config)
    except Exception:  # noqa: BLE001 - a courtesy for messages; the run validated the config itself
        return None
    return _results_folder(cfg, config, directory)


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
    root = results_root(config, directory=directory)
    if root is None:  # the summary is a courtesy; the failure was reported already
        return []
    logs = root / "logs"
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
    if out.is_dir():
        raise InputError(f"{out}: is a folder; --out names the HTML file to write.")
    if figures is not None and figures.exists() and not figures.is_dir():
        raise InputError(f"{figures}: exists and is a file; --figures names a folder.")
    loaded = read_results(results)
    if not loaded.stages():
        raise InputError(f"{results}: no stage result found; run the workflow (or a stage command) first.")
    # render into a temporary folder beside the report: nothing is written to --out or --figures
    # before the whole report has rendered, then the files move into place
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        staged_figures = staging / "figures" if figures is not None else None
        html = render(loaded, staging / out.name, synthetic=synthetic, figures_dir=staged_figures, **opts)
        record = build_provenance("report", parameters={"results": str(results), **opts},
                                  synthetic=loaded.synthetic if synthetic is None else synthetic,
                                  extra={"html": str(out), "stages": list(loaded.stages())})
        write_json({"stages": {"report": record}, "synthetic": record["synthetic"]}, staging / "provenance.json")
        if staged_figures is not None:
            figures.mkdir(parents=True, exist_ok=True)
            for png in sorted(staged_figures.iterdir()):
                shutil.move(png, figures / png.name)  # may be another file system
        os.replace(html, out)
        os.replace(staging / "provenance.json", out.parent / "provenance.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    typer.echo(str(out))
