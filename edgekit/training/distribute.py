"""Fine-tuning under ``tf.distribute``: MirroredStrategy on one machine, MultiWorker across several.

Nothing home-made: the recipe's ``train.strategy`` picks a TensorFlow strategy, models are
created and trained inside its scope, and Keras ``fit`` splits every batch across replicas and
all-reduces the gradients. ``mirrored`` uses all local GPUs, or all (logical) CPU devices when
there is no GPU. ``multi_worker`` reads the cluster from ``TF_CONFIG``; every worker runs the
same command, and only the chief writes the output folder.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from edgekit._compat import tf as _tf
from edgekit.errors import InputError
from edgekit.vocabulary import STRATEGIES

__all__ = ["is_chief", "output_dir", "strategy_scope"]

log = logging.getLogger("edgekit")


@functools.cache
def get_strategy(name: str):
    """The strategy for ``train.strategy`` (created once per process, as TF requires)."""
    tf = _tf()
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    elif name == "multi_worker":
        _check_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise InputError(f"unknown train.strategy {name!r}", hint=f"choose one of: {', '.join(STRATEGIES)}")
    log.info("train.strategy %s: %d replica(s) in sync", name, strategy.num_replicas_in_sync)
    return strategy


@contextlib.contextmanager
def strategy_scope(name: str):
    """Create and train models inside this block to have them distributed."""
    if name == "none":
        yield None
        return
    strategy = get_strategy(name)
    with strategy.scope():
        yield strategy


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker."""
    task = _tf_config().get("task", {})
    if not task:
        return True
    cluster = _tf_config().get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def output_dir(out_dir: str | Path, strategy: str) -> Path:
    """Where this process writes: the real folder on the chief, a scratch folder elsewhere."""
    if strategy != "multi_worker" or is_chief():
        return Path(out_dir)
    scratch = tempfile.mkdtemp(prefix="edgekit-worker-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # a non-chief's copy is never read
    return Path(scratch) / Path(out_dir).name


def _tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as exc:
        raise InputError(f"TF_CONFIG is not valid JSON: {exc}") from exc


def _check_tf_config() -> None:
    config = _tf_config()
    if not config.get("cluster") or not config.get("task"):
        raise InputError(
            "train.strategy = \"multi_worker\" needs TF_CONFIG with a cluster and this process's task",
            hint='e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\'',
        )
