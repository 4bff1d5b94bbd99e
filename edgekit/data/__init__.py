"""Data in: the built-in MNIST digits, ``.npz`` arrays and image folders, split, normalised
and checked (``load``). ``mnist10k.npz`` ships here; see README.md for its attribution."""
