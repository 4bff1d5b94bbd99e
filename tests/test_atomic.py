"""All-or-nothing output: staging folders replace the destination only on success."""

import pytest

from edgekit.output.atomic import staged_directory, write_file_atomic


def test_success_replaces_existing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with staged_directory(out) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_keeps_previous_output_and_cleans_up(tmp_path, error):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(type(error)):
        with staged_directory(out) as staging:
            (staging / "half.txt").write_text("half")
            raise error
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_without_previous_output_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_directory(tmp_path / "out"):
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_write_file_atomic(tmp_path):
    path = tmp_path / "f.json"
    write_file_atomic(path, "{}")
    write_file_atomic(path, b"[]")
    assert path.read_text() == "[]" and len(list(tmp_path.iterdir())) == 1


def test_output_gets_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with staged_directory(tmp_path / "out") as staging:
            (staging / "f").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_an_interrupt_during_the_swap_is_delivered_after_it(tmp_path, monkeypatch):
    """Ctrl-C arriving while the staging folder replaces the output waits until the swap is done."""
    import os
    import signal

    from edgekit.output import atomic

    out = tmp_path / "out"
    out.mkdir()
    swap = atomic.replace_directory

    def interrupted_swap(source, destination):
        os.kill(os.getpid(), signal.SIGINT)  # lands in the middle of the critical step
        swap(source, destination)

    monkeypatch.setattr(atomic, "replace_directory", interrupted_swap)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also when pytest runs with SIGINT ignored (`&`)
    try:
        with pytest.raises(KeyboardInterrupt):
            with staged_directory(out) as staging:
                (staging / "new.txt").write_text("new")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
