"""README.md's two set-up commands are the ones CI and these tests run."""

import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def readme_command(marker):
    text = open(os.path.join(ROOT, "README.md")).read()
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```", text, re.S)
    assert match, f"no command after <!-- {marker} --> in README.md"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command():
    extracted = subprocess.run([os.path.join(ROOT, ".ci", "run"), "--print-command"],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert extracted == readme_command("test-command")
    assert extracted == "pip install -e '.[test]' && python -m pytest -n 2"


def test_readme_default_command_runs(tmp_path):
    """The default command (after its pip install), shortened to 50 steps."""
    command = readme_command("default-command")
    install, run = (part.strip() for part in command.split("&&"))
    assert install == "pip install -e ."
    args = shlex.split(run)
    assert args[:3] == ["python", "-m", "gan_jax.main"]
    args = [sys.executable, *args[1:]]
    args[args.index("--workdir") + 1] = str(tmp_path / "default")
    out = subprocess.run(args + ["--config.num_steps=50", "--config.progress_bar=False"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert os.path.exists(tmp_path / "default" / "metrics.jsonl")
    assert os.listdir(tmp_path / "default" / "samples")


def test_readme_metric_table_is_generated_from_the_declarations():
    from gan_jax.eval import evaluate

    text = open(os.path.join(ROOT, "README.md")).read()
    assert evaluate.readme_with_metrics(text) == text, (
        "README.md's metric table is stale: run python -m gan_jax.eval.evaluate --readme")
    for name in evaluate.METRICS:
        assert f"| `{name}` |" in text
