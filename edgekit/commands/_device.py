"""Options the device-side commands (predict, bench, deploy) share."""

from __future__ import annotations

import click

# Kept literal so ``--help`` needs no import of the runtime; edgekit.runtime.backends.BACKENDS
# is the source of truth and a test checks they agree.
RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")


def runtime_option(command):
    return click.option(
        "--runtime",
        type=click.Choice(RUNTIMES),
        default=None,
        help="Force one interpreter backend (default: the first importable of " + ", ".join(RUNTIMES) + ").",
    )(command)


def threads_option(command):
    return click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="Interpreter threads.")(command)


def invoke_timeout_option(command):
    """The longest one interpreter call may take: a model from elsewhere may never end."""
    return click.option(
        "--invoke-timeout",
        default=60.0,
        show_default=True,
        envvar="EDGEKIT_INVOKE_TIMEOUT",
        type=click.FloatRange(min=0, max=7 * 24 * 3600),
        metavar="SECONDS",
        help="Stop the model when one inference (or preparing it) takes longer; 0 for no limit [env EDGEKIT_INVOKE_TIMEOUT].",
    )(command)


def watch_invokes(seconds: float) -> None:
    """Hand the limit to the supervisor's watchdog (nothing happens outside a supervised child)."""
    from edgekit.runtime import watch

    watch.set_limit(seconds or None)


def remote_options(command):
    """Where and how to reach the device over SSH (the user's ssh config applies)."""
    options = [
        click.option("--path", "remote_dir", default="edgekit-bundles", show_default=True, callback=_remote_path, help="Folder on the device, relative to its home."),
        click.option("--remote-python", default="python3", show_default=True, help="The device's Python with edgekit installed, e.g. ~/edgekit-venv/bin/python."),
        click.option("--ssh-config", envvar="EDGEKIT_SSH_CONFIG", type=click.Path(exists=True, dir_okay=False), help="An ssh_config file to use instead of ~/.ssh/config [env EDGEKIT_SSH_CONFIG]."),
        click.option("--connect-timeout", default=10, show_default=True, type=click.IntRange(min=1), help="Seconds to wait for an SSH connection."),
        click.option("--timeout", "command_timeout", default=900, show_default=True, type=click.IntRange(min=1), help="Seconds any one remote step may take."),
        click.option("--legacy-scp", is_flag=True, help="Copy with scp's original protocol (scp -O) for a device without SFTP; remote names stay edgekit's own."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _remote_path(ctx, param, value):
    """Checked before anything connects: a bad --path is a usage error, not a failed copy."""
    from edgekit.remote.ssh import remote_path

    remote_path(value)
    return value


def make_remote(host: str, *, remote_python: str, ssh_config: str | None, connect_timeout: int, command_timeout: int, legacy_scp: bool = False):
    from edgekit.remote.ssh import Remote

    return Remote(host, python=remote_python, ssh_config=ssh_config, connect_timeout=connect_timeout, timeout=float(command_timeout), legacy_scp=legacy_scp)
