"""Options several commands share."""

from __future__ import annotations

import functools
from pathlib import Path

import click


def recipe_overrides(command):
    """``--set section.key=value`` (repeatable): override recipe fields from the command line."""

    @click.option("--set", "assignments", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a recipe field, e.g. --set train.epochs=1 (repeatable).")
    @functools.wraps(command)
    def wrapper(*args, assignments=(), **kwargs):
        from edgekit.recipe import parse_override

        kwargs["overrides"] = dict(parse_override(a) for a in assignments)
        return command(*args, **kwargs)

    return wrapper


def writable(ctx, param, value):
    """Click callback for output options: a path that cannot be written fails before the work."""
    if value is not None and str(value) != "-":
        from edgekit.output.atomic import check_writable

        is_file = isinstance(param.type, click.Path) and not param.type.dir_okay
        check_writable(value, what=param.opts[0], is_file=is_file)
    return value


def force_option(command):
    """``--force``: write into a folder edgekit would refuse, removing nothing it did not write."""
    return click.option(
        "--force", is_flag=True,
        help="Write into an output folder that is not empty or not edgekit's (or the current or recipe folder): edgekit's own entries are replaced, nothing else is removed.",
    )(command)  # fmt: skip


def signer_options(command):
    """``--key PUB`` / ``--allowed-signers FILE``: require the publisher's signature
    (``edgekit.bundle.signing``); without them the device's own requirement, if any, applies,
    and with them it still does: they can only narrow it."""

    @click.option("--key", "signer_key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Require a publisher signature by this OpenSSH public key (.pub); a device's own requirement still applies.")
    @click.option("--allowed-signers", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Require a publisher signature by anyone in this allowed_signers file (ssh-keygen's format, as git uses); a device's own requirement still applies.")
    @functools.wraps(command)
    def wrapper(*args, signer_key=None, allowed_signers=None, **kwargs):
        from edgekit.bundle.signing import Signers

        kwargs["signers"] = Signers.from_options(signer_key, allowed_signers)
        return command(*args, **kwargs)

    return wrapper


def distributed_options(command):
    """``--workers N`` / ``--scheduler ADDRESS`` (+ TLS): where a sweep's or fit's tasks run."""

    @click.option("--workers", type=int, default=None, metavar="N", help="Run the tasks on N Dask worker processes on this machine (127.0.0.1 only; about 1.5 GiB each).")
    @click.option("--scheduler", default=None, metavar="ADDRESS", help="Run the tasks on the Dask cluster at tcp://HOST:PORT or tls://HOST:PORT (default: the recipe's [distributed] scheduler).")
    @click.option("--tls-ca", default=None, type=click.Path(dir_okay=False), help="With tls://: the CA (PEM) that signed the scheduler's certificate.")
    @click.option("--tls-cert", default=None, type=click.Path(dir_okay=False), help="With tls://: this client's certificate (PEM).")
    @click.option("--tls-key", default=None, type=click.Path(dir_okay=False), help="With tls://: this client's private key (PEM).")
    @click.option("--insecure", is_flag=True, help="Allow a plain tcp:// scheduler off this machine: models, data and results then travel unencrypted and unauthenticated.")
    @functools.wraps(command)
    def wrapper(*args, workers=None, scheduler=None, tls_ca=None, tls_cert=None, tls_key=None, insecure=False, **kwargs):
        kwargs["where"] = {"workers": workers, "scheduler": scheduler, "tls": (tls_ca, tls_cert, tls_key), "insecure": insecure}
        return command(*args, **kwargs)

    return wrapper


def placement_for(recipe, where: dict):
    """The run's placement from ``--workers``/``--scheduler``/TLS flags and the recipe's
    ``[distributed]`` table, decided before anything connects; TensorFlow's threads pinned
    for this process (and the workers it starts) before TensorFlow loads."""
    from edgekit.distributed.settings import placement
    from edgekit.distributed.threads import pin_threads

    spec = recipe.distributed
    tls = where["tls"]
    uses_scheduler = where["workers"] is None and (where["scheduler"] or spec.scheduler)
    if not any(tls) and uses_scheduler and spec.tls_ca:
        tls = tuple(str(recipe.resolve(path)) for path in (spec.tls_ca, spec.tls_cert, spec.tls_key))
    chosen = placement(
        workers=where["workers"], scheduler=where["scheduler"], tls=tls, insecure=where["insecure"],
        recipe_scheduler=spec.scheduler, threads=spec.threads,
    )  # fmt: skip
    pin_threads(chosen.threads)
    return chosen
