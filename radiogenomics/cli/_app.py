"""The Typer application shared by every stage's commands, and its error handling."""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import typer

from .._logging import set_verbosity
from .._validation import RadiogenomicsError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="radiogenomics",
    help="Link medical-image features to gene expression and build validated HER2 models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debugging detail."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
    debug: bool = typer.Option(False, "--debug", help="On an error, also print its traceback."),
) -> None:
    """Radiogenomics: radiomic features, GEO expression, association, enrichment and models."""
    set_verbosity(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    _STATE["debug"] = debug


#: Settings of the root command that the error boundary reads (``--debug``).
_STATE: dict[str, bool] = {"debug": False}

_OS_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EEXIST: "a file is in the way",
    errno.ENOTDIR: "a file is in the way (a folder was expected)",
    errno.EISDIR: "is a folder (a file was expected)",
    errno.ENOENT: "not found",
    errno.ENAMETOOLONG: "name too long",
    errno.EMFILE: "too many open files",
}


def os_error_message(exc: OSError) -> str:
    """One line for an operating-system error: the file, what went wrong, and what to do.

    Parameters
    ----------
    exc
        The error.

    Returns
    -------
    str
    """
    reason = _OS_REASONS.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    files = [str(f) for f in (exc.filename, getattr(exc, "filename2", None)) if f]
    where = " -> ".join(files) if files else "(no file named)"
    hint = {
        errno.ENOSPC: "free space or choose another output folder",
        errno.EDQUOT: "free space or choose another output folder",
        errno.EACCES: "check the permissions or choose another output folder",
        errno.EPERM: "check the permissions or choose another output folder",
        errno.EROFS: "choose a writable output folder",
        errno.EEXIST: "remove it or choose another name",
        errno.ENOTDIR: "remove the file or choose another name",
        errno.EISDIR: "give a file name",
    }.get(exc.errno or -1)
    return f"{where}: {reason}" + (f"; {hint}." if hint else ".")


def cli_errors(func: F) -> F:
    """The CLI's error boundary: a package or operating-system error is one line on stderr, exit 2.

    Operating-system errors (permission denied, disk full, a file in the way) name the file and
    the fix; ``radiogenomics --debug CMD`` prints the traceback first. Any other exception is a
    bug: its traceback, then one line, exit 1.

    Parameters
    ----------
    func
        A command function.

    Returns
    -------
    Callable
        The wrapped command.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except RadiogenomicsError as exc:
            _traceback_if_debug()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:  # permission, disk full, a file in the way, a file not found
            _traceback_if_debug()
            typer.echo(f"error: {os_error_message(exc)}", err=True)
            raise typer.Exit(code=2) from None
        except Exception as exc:  # noqa: BLE001 - a bug: the traceback for the report, then one line
            import traceback

            traceback.print_exc()
            typer.echo(f"error: unexpected {type(exc).__name__} in `radiogenomics {func.__name__.removesuffix('_cmd')}`: "
                       f"{exc} (a bug: please report it with the traceback above).", err=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def _traceback_if_debug() -> None:
    if _STATE["debug"]:
        import traceback

        traceback.print_exc()


#: Help of the ``--label-column`` option of the commands that read feature tables.
LABEL_COLUMN_HELP = ("The HER2 labels' column (1/0): in the feature table itself when --labels is not given "
                     "(a row when samples are columns), else in the labels file.")

#: The ``--config`` option every stage command takes.
CONFIG_HELP = ("Workflow config (YAML; see workflows/config/config.yaml): its section for this stage fills "
               "every option not given on the command line.")


def default(section: str, name: str) -> Any:
    """The default of option ``name``: the stage function's own default (one source).

    Parameters
    ----------
    section
        Config section of the stage (``"association"``...), see :data:`radiogenomics._config.SECTIONS`.
    name
        Parameter name of the stage function.

    Returns
    -------
    Any
    """
    from .._config import source_defaults

    return source_defaults(section)[name]


def stage_options(ctx: typer.Context, section: str, values: Mapping[str, Any], config: Path | None) -> dict[str, Any]:
    """The stage function's keyword arguments: command-line options, else the config's section.

    Parameters
    ----------
    ctx
        The command's context (tells which options were given on the command line).
    section
        Config section of the stage.
    values
        Option name → value as parsed (names are the stage function's parameter names).
    config
        ``--config`` file, or ``None``.

    Returns
    -------
    dict
        Parameter name → value.
    """
    out = dict(values)
    if config is None:
        return out
    from .._config import load_config, stage_parameters

    from_config = stage_parameters(load_config(config), section)
    for name in out:
        source = ctx.get_parameter_source(name)
        # typer ships its own click: compare the enum by name
        if name in from_config and (source is None or source.name in ("DEFAULT", "DEFAULT_MAP")):
            out[name] = from_config[name]
    return out


def read_input(path: Path, stage: str, *, what: str) -> Any:
    """An upstream stage's result folder, read as its result (``None`` when ``path`` is a file).

    Parameters
    ----------
    path
        A result folder written by a stage, or a plain file.
    stage
        The stage expected in a folder.
    what
        The option's name, for messages.

    Returns
    -------
    StageResult or None
        The result when ``path`` is a folder; ``None`` for a file (the caller reads the table).
    """
    from .._results import read_stage
    from .._validation import DataFileError, MissingDataFileError

    if not path.exists():
        raise MissingDataFileError(f"{what} {path}: not found.")
    if not path.is_dir():
        return None
    result = read_stage(stage, path)
    if result is None:
        raise DataFileError(f"{what} {path}: a folder, but not a {stage} result (written by radiogenomics).")
    return result


def features_input(features: Path, labels: Path | None, *, transpose: bool = False,
                   label_column: str | None = None, require_labels: bool = True) -> Any:
    """The imaging features an analysis stage reads: an imaging result folder, or a table + labels.

    Every stage command reads its features here, so every stage accepts the same layouts (see
    :func:`radiogenomics.imaging.load_features`: features as rows, labels inside, pyradiomics'
    batch output).

    Parameters
    ----------
    features
        An ``extract`` result folder, or a feature table (CSV/TSV/Parquet).
    labels
        Labels file (sample id, her2); replaces the folder's own labels when given.
    transpose
        The table stores samples as columns.
    label_column
        The labels' column: in the table itself (without ``labels``), else in the labels file.
    require_labels
        A table must come with its labels (every analysis stage); ``False`` accepts one without.

    Returns
    -------
    ExtractionResult
    """
    from .._validation import ParameterError
    from ..imaging.result import load_features

    result = read_input(features, "extraction", what="--features")
    if result is None:
        if require_labels and labels is None and label_column is None:
            raise ParameterError(
                f"--features {features} is a table: give its HER2 labels with --labels FILE (sample id, her2), or "
                "--label-column NAME when the table holds them (config: imaging.labels / imaging.label_column)."
            )
        return load_features(features, labels, transpose=transpose, label_column=label_column)
    if labels is not None:
        from .._io import read_labels

        return load_features(result.features, read_labels(labels, column=label_column), name=str(features))
    return result
