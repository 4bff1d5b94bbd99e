"""The ``edgekit`` command. Subcommands load lazily so ``edgekit --help`` never imports TensorFlow.

Each command lives in its own module under ``edgekit/commands``; adding one is one module
plus one line in ``COMMANDS``.
"""

from __future__ import annotations

import logging
import sys

import click

from edgekit import interrupts
from edgekit._version import __version__
from edgekit.errors import EdgekitError

__all__ = ["cli", "COMMANDS", "LazyGroup", "main"]

# name -> (dotted path of the click command, one-line help shown without importing it)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("edgekit.commands.build:build", "Run a recipe: train, compress, convert, measure, bundle."),
    "convert": ("edgekit.commands.convert:convert", "Convert a trained Keras file for one target (post-training)."),
    "inspect": ("edgekit.commands.inspect:inspect", "Show a .tflite model's size, I/O, ops and a target's op placement."),
    "targets": ("edgekit.commands.targets:targets", "List the registered hardware targets."),
    "predict": ("edgekit.commands.predict:predict", "Classify images or .npy arrays with a verified bundle."),
    "bench": ("edgekit.commands.bench:bench", "Measure load, first-inference and steady latency, here or over SSH."),
    "deploy": ("edgekit.commands.deploy:deploy", "Copy a bundle to a device over SSH and check its runtime."),
    "verify": ("edgekit.commands.verify:verify", "Check a bundle's files against its manifest's sha256 (and its signature)."),
    "sign": ("edgekit.commands.sign:sign", "Sign bundles' manifests as their publisher (ssh-keygen -Y)."),
    "sweep": ("edgekit.commands.sweep:sweep", "Grid of sparsity x quantisation, measured, with a Pareto report."),
    "fit": ("edgekit.commands.fit:fit", "Search for the most accurate model that fits flash, RAM and latency budgets."),
    "report": ("edgekit.commands.report:report", "Re-render report.md, results.csv and report.html from report.json."),
    "analyze": ("edgekit.commands.analyze:analyze", "Per-layer sensitivity to pruning and quantisation, through the interpreter."),
}


# The device commands run untrusted models with nothing but numpy and an interpreter. Run as
# the ``edgekit`` program they run in a watched child (edgekit.runtime.supervisor: a time limit
# per interpreter call, a memory cap per model, a crash is one line); the child's own process
# gets a data-memory cap (edgekit.runtime.limits) before anything is loaded.
MEMORY_CAPPED = ("predict", "bench")
_command_line: list[list[str]] = []  # the arguments main() was given, for the supervised child


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is invoked."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        from edgekit.registry import load_object

        command = load_object(COMMANDS[name][0])
        if name in MEMORY_CAPPED and not ctx.resilient_parsing:
            from edgekit.runtime import watch

            if _command_line and not watch.watching():
                return _supervised(command, _command_line[-1])
            from edgekit.runtime.limits import cap_process_memory

            cap_process_memory()
        return command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _supervised(command: click.Command, argv: list[str]) -> click.Command:
    """``command`` with its options checked here, then run as ``edgekit ARGV`` in a watched child.

    Only for the ``edgekit`` program (``main``): a caller of ``cli`` from Python (click's test
    runner) has no command line to hand on and runs the command in its own process.
    """
    import copy

    def run_in_child(**_):
        from edgekit.runtime.supervisor import run_supervised

        sys.exit(run_supervised(argv))

    supervised = copy.copy(command)
    supervised.callback = run_in_child
    return supervised


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's logs and full tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.pass_context
def cli(ctx, verbose: bool, quiet: bool):
    """edgekit: compress Keras models and package them for phones, Raspberry Pi, Coral and MCUs."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    _configure_output(verbose=verbose, quiet=quiet)


def _configure_output(*, verbose: bool, quiet: bool) -> None:
    from edgekit import _compat, _quiet

    _compat.set_verbose(verbose)
    _quiet.set_verbose(verbose)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger = logging.getLogger("edgekit")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


class _SafeFormatter(logging.Formatter):
    """Log lines carry names and paths from files: their control characters are escaped."""

    def format(self, record: logging.LogRecord) -> str:
        from edgekit.terminal import safe_line

        return safe_line(super().format(record))


def _error(text: str, code: int) -> None:
    """The one ``error:`` line, its control characters escaped, and the exit code."""
    from edgekit.terminal import safe_line

    click.echo(f"error: {safe_line(text)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: edgekit's own errors become one line and an exit code, not a traceback.

    What the commands print on stdout passes through :func:`edgekit.terminal.safe_stdout`, so
    no control character from a model, bundle or file reaches the terminal raw.
    """
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    _command_line.append(list(sys.argv[1:] if argv is None else argv))
    interrupts.install()
    from edgekit.terminal import safe_stdout

    try:
        with safe_stdout():
            cli.main(args=argv, prog_name="edgekit", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _interrupted()
    except Exception as exc:
        if interrupts.is_interrupt(exc) and not verbose:  # an interrupt, turned into another error by TF
            _interrupted()
        _fail(exc, verbose)


def _interrupted() -> None:
    click.echo("interrupted; nothing was written", err=True)
    sys.exit(130)


def _fail(exc: Exception, verbose: bool) -> None:
    """One line and an exit code for each kind of failure; anything else is a bug: its traceback."""
    if isinstance(exc, (EdgekitError, OSError, MemoryError)) and verbose:
        raise exc
    if isinstance(exc, EdgekitError):
        _error(str(exc), exc.exit_code)
    if isinstance(exc, MemoryError):  # an input too large for this machine: bad input, one line
        from edgekit.runtime.limits import out_of_memory_message

        _error(out_of_memory_message(), 2)
    if isinstance(exc, OSError):  # the system refused (disk full, permission denied): its words, one line
        _error(f"{exc} (run with --verbose for the traceback)", 1)
    if isinstance(exc, click.UsageError):  # one line like every other error, not click's usage block
        command = exc.ctx.command_path if exc.ctx else "edgekit"
        message = " ".join(exc.format_message().split())
        _error(f"{message} (see '{command} --help')", exc.exit_code)
    if isinstance(exc, click.ClickException):
        exc.show()
        sys.exit(exc.exit_code)
    if isinstance(exc, click.exceptions.Exit):
        sys.exit(exc.exit_code)
    raise exc


if __name__ == "__main__":  # pragma: no cover
    main()
