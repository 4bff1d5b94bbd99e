"""The bundle format: what a bundle holds, written, signed, zipped, read back and verified.

``write`` lays a bundle out (``model.tflite``, ``labels.txt``, ``manifest.json``, a target's
own folder), ``manifest`` is the format itself (checksums, I/O, metrics; reading and
verifying), ``signing`` signs and checks the manifest with OpenSSH keys, ``archive`` zips a
bundle deterministically and unpacks one with caps on members and sizes. Standard library
only: the device runtime verifies bundles with this package and never imports TensorFlow.
"""
