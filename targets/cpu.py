"""CPU target: phones and Raspberry Pi through LiteRT's XNNPACK delegate.

The check is measured, not looked up: the model is loaded with LiteRT's default XNNPACK
delegate and each DELEGATE node's region is traced back through the graph, so every op
XNNPACK did not take is reported as running on LiteRT's reference kernels.
"""

from __future__ import annotations

from collections import Counter

from edgekit.target import OpPlacement, Target, TargetReport
from edgekit.vocabulary import FLOAT_QUANTIZATIONS

__all__ = ["check", "CPU"]


def delegated_ops(ops: list[dict]) -> set[int]:
    """Indices of the original nodes that DELEGATE nodes replaced.

    The interpreter keeps the original nodes in its node list and appends one DELEGATE node
    per partition; a partition covers every node between its input and output tensors.
    """
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in original for t in op["outputs"]}
    by_index = {op["index"]: op for op in original}
    covered: set[int] = set()
    for delegate in (op for op in ops if op["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in delegate["inputs"]}
        frontier = [int(t) for t in delegate["outputs"]]
        while frontier:
            node = producer.get(frontier.pop())
            if node is None or node in covered:
                continue
            covered.add(node)
            frontier += [int(t) for t in by_index[node]["inputs"] if int(t) >= 0 and int(t) not in boundary]
    return covered


def check(tflite_bytes: bytes) -> TargetReport:
    """Which ops XNNPACK runs and which stay on LiteRT's built-in kernels."""
    from edgekit.runtime import open_model

    ops = open_model(tflite_bytes).interpreter._get_ops_details()
    covered = delegated_ops(ops)
    counts = Counter(
        (op["op_name"], op["index"] in covered) for op in ops if op["op_name"] != "DELEGATE"
    )
    placements = tuple(
        OpPlacement(op=name, count=count, placement="xnnpack")
        if delegated
        else OpPlacement(op=name, count=count, placement="cpu", reason="not taken by XNNPACK; runs on reference kernels")
        for (name, delegated), count in sorted(counts.items())
    )
    return TargetReport(
        target="cpu",
        runnable=True,
        ops=placements,
        details={
            "xnnpack_partitions": sum(op["op_name"] == "DELEGATE" for op in ops),
            "op_count": sum(counts.values()),
            "xnnpack_ops": len(covered),
        },
    )


CPU = Target(
    name="cpu",
    description="Phones and Raspberry Pi CPUs via LiteRT + XNNPACK (int8 by default; float32, float16, dynamic on request)",
    quantization="int8",
    quantizations=("int8", *FLOAT_QUANTIZATIONS),
    io_dtype="int8",
    check=check,
    options={"pruning_policy": "none"},  # "xnnpack": prune with TF-MOT's PruneForLatencyOnXNNPack
    budget_figures=("flash", "latency"),  # latency: edgekit's benchmark on this machine's CPU
)
