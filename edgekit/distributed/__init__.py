"""Sweeps and budget searches on Dask: ``--workers N`` on this machine, ``--scheduler`` for a cluster.

The driver (the ``edgekit`` process) plans the work, trains what every task shares, and alone
writes records, bundles and reports; each task (one compression run and the artifacts made
from it) runs on a Dask worker and returns bytes and figures, which the driver checks like a
resumed record before it believes them. ``address`` decides whether a scheduler may be
reached at all, from its address alone; ``settings`` reads the flags and the recipe's
``[distributed]`` table; ``threads`` pins TensorFlow's threads the same way in every process;
``executor`` runs the tasks, in-process or on the cluster.
"""

__all__: list[str] = []
