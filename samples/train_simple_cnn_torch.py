"""Train the seed's PyTorch SimpleCNN on the bundled digits and export it for edgekit.

    python samples/train_simple_cnn_torch.py            # writes samples/simple_cnn_torch.pt2
    edgekit build samples/simple_cnn_torch.toml          # prune, cluster, PCQAT, five targets

The 10,000 bundled MNIST digits (8,000 train, 2,000 test, as edgekit's built-in ``mnist``
splits them) are padded to 32x32 and repeated to 3 channels, the SimpleCNN's input, and saved
channels first, as PyTorch has them (``digits32.npz``, uint8): the recipe reads the same file
and edgekit turns it into the imported model's channels-last layout. The trained model is
saved as a ``torch.export`` program (``.pt2``; a pickled ``.pt`` would run code when loaded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRAIN = 8000


def digits32() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as (N, 3, 32, 32) uint8 and their labels."""
    from importlib import resources

    with resources.as_file(resources.files("edgekit.data") / "mnist10k.npz") as path, np.load(path) as archive:
        x, y = archive["x"], archive["y"]
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(padded[:, None], 3, axis=1), y.astype(np.int64)


def train(x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int = 0):
    import torch

    sys.path.insert(0, str(HERE))
    from simple_cnn_torch import SimpleCNN

    torch.manual_seed(seed)
    model = SimpleCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, labels = torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    return model.eval()


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        scores = model(torch.from_numpy(x.astype(np.float32) / 255.0))
    return float((scores.argmax(-1).numpy() == y).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for simple_cnn_torch.pt2 and digits32.npz")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N digits only (tests)")
    args = parser.parse_args(argv)
    import torch

    x, y = digits32()
    x_train, y_train, x_test, y_test = x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    model = train(x_train, y_train, epochs=args.epochs)
    print(f"PyTorch float accuracy on the {len(x_test):,} test digits: {accuracy(model, x_test, y_test) * 100:.2f} %")
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "digits32.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    example = torch.from_numpy(x_test[:1].astype(np.float32) / 255.0)
    torch.export.save(torch.export.export(model, (example,)), args.out / "simple_cnn_torch.pt2")
    print(f"wrote {args.out / 'simple_cnn_torch.pt2'} and {args.out / 'digits32.npz'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
