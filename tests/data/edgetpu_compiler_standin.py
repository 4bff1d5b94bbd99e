"""A stand-in for Coral's edgetpu_compiler, for invocation tests (the real one is x86-64 Debian only).

It takes the real command line (-s, -o DIR, --num_segments N, --timeout_sec T, MODEL), writes
``*_edgetpu.tflite`` files the way the compiler names them (copies of the input) and prints a
log in the compiler's format. ``STANDIN_MODE``: ``ok`` (default), ``fail`` (prints a published
failure log, exits 1) or ``hang`` (sleeps). ``STANDIN_ARGV`` names a file to record argv in.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

FAIL_LOG = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.
ERROR: Restored original execution plan after delegate application failure.
Compilation failed: Compilation failed due to large activation tensors in model.
Compilation child process completed within timeout period.
Compilation failed!
"""

SEGMENT_LOG = """
Model compiled successfully in 12 ms.

Input model: {input}
Input size: 2.50KiB
Output model: {output}
Output size: 3.25KiB
On-chip memory used for caching model parameters: 1.50KiB
On-chip memory remaining for caching model parameters: 7.98MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 3
Operation log: {log}

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 2
Number of operations that will run on CPU: 1

Operator                       Count      Status

CONV_2D                        2          Mapped to Edge TPU
LEAKY_RELU                     1          Operation not supported
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="edgetpu_compiler")
    parser.add_argument("-s", "--show_operations", action="store_true")
    parser.add_argument("-o", "--out_dir", default=".")
    parser.add_argument("-n", "--num_segments", type=int, default=1)
    parser.add_argument("-t", "--timeout_sec", type=int, default=180)
    parser.add_argument("model")
    args = parser.parse_args()
    if os.environ.get("STANDIN_ARGV"):
        Path(os.environ["STANDIN_ARGV"]).write_text(json.dumps(sys.argv))
    mode = os.environ.get("STANDIN_MODE", "ok")
    print("Edge TPU Compiler version 16.0.384591198")
    if mode == "hang":
        sys.stdout.flush()
        time.sleep(60)
    if mode == "fail":
        print(FAIL_LOG.split("\n", 1)[1], end="")
        return 1
    model = Path(args.model)
    data = model.read_bytes()
    if data[4:8] != b"TFL3":
        print(f"Invalid model: {model}\nModel could not be parsed")
        return 1
    print(f"Started a compilation timeout timer of {args.timeout_sec} seconds.")
    stems = [model.stem] if args.num_segments == 1 else [f"{model.stem}_segment_{i}_of_{args.num_segments}" for i in range(args.num_segments)]
    for stem in stems:
        output = Path(args.out_dir) / f"{stem}_edgetpu.tflite"
        log = output.with_suffix(".log")
        output.write_bytes(data)
        log.write_text("Edge TPU Compiler version 16.0.384591198\n")
        print(SEGMENT_LOG.format(input=f"{stem}.tflite", output=output, log=log), end="")
    print("Compilation child process completed within timeout period.\nCompilation succeeded!")
    return 0


if __name__ == "__main__":
    sys.exit(main())
