"""The command line: fast help without TensorFlow, version, one-line errors with exit codes."""

import subprocess
import sys

import pytest

from tests.conftest import REPO, edgekit_command


def run(args, env, **kwargs):
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, timeout=120, **kwargs)


def test_help_does_not_import_tensorflow(cli_env):
    code = (
        "import sys\n"
        "from edgekit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "build" in result.stdout


@pytest.mark.parametrize("command", ["build"])
def test_every_command_has_help(command, cli_env):
    result = run([command, "--help"], cli_env)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_version(cli_env):
    from edgekit import __version__

    result = run(["--version"], cli_env)
    assert result.returncode == 0 and __version__ in result.stdout


def test_missing_recipe_is_a_one_line_error(cli_env, tmp_path):
    result = run(["build", str(tmp_path / "nope.toml")], cli_env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: recipe not found")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_recipe_key_exit_code_2(cli_env, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nfactory = "x.py:build"\n[train]\nepoch = 3\n')
    result = run(["build", str(recipe)], cli_env)
    assert result.returncode == 2
    assert f"{recipe}:4: unknown key 'epoch' in [train]" in result.stderr


def test_bad_override(cli_env, tiny_recipe):
    result = run(["build", str(tiny_recipe), "--set", "prune.sparsity=1.5"], cli_env)
    assert result.returncode == 2 and "prune.sparsity = 1.5 must be in [0, 1)" in result.stderr


def test_wrong_data_shape_names_both_shapes(cli_env, tiny_recipe, tmp_path):
    result = run(["build", str(tiny_recipe), "--set", "model.kwargs={input_shape=[32,32,3],num_classes=10}", "--out", str(tmp_path / "o")], cli_env)
    assert result.returncode == 2
    assert "(32, 32, 3)" in result.stderr and "(28, 28, 1)" in result.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_command(cli_env):
    result = run(["frobnicate"], cli_env)
    assert result.returncode == 2 and "No such command" in result.stderr


def test_module_entry_point_matches_console_script():
    text = (REPO / "pyproject.toml").read_text()
    assert 'edgekit = "edgekit.cli:main"' in text
