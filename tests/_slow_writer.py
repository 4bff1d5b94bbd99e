"""Rewrite a bundle folder over and over, for kill tests: ``python -m tests._slow_writer DEST``.

Each round writes a complete bundle (a few MB, several files) through ``edgekit.bundle.write``,
i.e. through the same staging-and-rename code every edgekit output uses, and prints the
round number once the bundle is in place. The parent kills it at random moments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgekit.bundle.write import write_bundle


def main(destination: Path) -> None:
    for round_number in range(1, 10**6):
        payload = bytes([round_number % 256]) * (3 * 1024 * 1024)
        write_bundle(
            destination,
            model_bytes=b"\x1c\x00\x00\x00TFL3" + payload,
            labels=[f"round-{round_number}"],
            extra_files={f"part{i}.bin": payload[: 200_000 * (i + 1)] for i in range(6)},
            name=f"round-{round_number}", target="cpu", quantization="int8", inputs=[], outputs=[],
            versions={}, recorded_recipe=None, metrics={},
        )
        print(round_number, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
