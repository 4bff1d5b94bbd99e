"""CPU target: phones and Raspberry Pi through LiteRT's XNNPACK delegate.

The check is measured, not looked up: the model is loaded twice, with LiteRT's reference
kernels and with the default XNNPACK delegate, and every op XNNPACK did not take over is
reported as running on the reference CPU kernels.
"""

from __future__ import annotations

from collections import Counter

from edgekit.target import FLOAT_MODES, OpPlacement, Target, TargetReport


def check(tflite_bytes: bytes) -> TargetReport:
    """Which ops XNNPACK runs and which stay on LiteRT's built-in kernels."""
    from edgekit.runtime import open_model

    all_ops = Counter(open_model(tflite_bytes, default_delegates=False).op_names())
    delegated = open_model(tflite_bytes).op_names()
    left = Counter(op for op in delegated if op != "DELEGATE")
    placements = []
    for op, count in sorted(all_ops.items()):
        on_cpu = min(left.get(op, 0), count)
        if count - on_cpu:
            placements.append(OpPlacement(op=op, count=count - on_cpu, placement="xnnpack"))
        if on_cpu:
            placements.append(
                OpPlacement(op=op, count=on_cpu, placement="cpu", reason="not taken by XNNPACK; runs on reference kernels")
            )
    partitions = delegated.count("DELEGATE")
    return TargetReport(
        target="cpu",
        runnable=True,
        ops=tuple(placements),
        details={"xnnpack_partitions": partitions, "op_count": sum(all_ops.values())},
    )


CPU = Target(
    name="cpu",
    description="Phones and Raspberry Pi CPUs via LiteRT + XNNPACK (int8 by default; float32, float16, dynamic on request)",
    quantization="int8",
    quantizations=("int8", *FLOAT_MODES),
    io_dtype="int8",
    check=check,
    options={"pruning_policy": "none"},  # "xnnpack": prune with TF-MOT's PruneForLatencyOnXNNPack
)
