"""What commands and scripts do with a run: load its config, build it, restore it.

- :func:`load_config`: an experiment config file (``path.py`` or ``path.py:arg``);
  :func:`config_of_workdir`: the config a run saved in its workdir.
- :func:`build`: validate a config, open its data source, build the GAN (with the
  data's class frequencies when generated labels follow them).
- :func:`restore`: a workdir's config, GAN and the state of one checkpoint
  (``latest``, ``best`` or a step), for ``gan-jax eval``/``sample`` and scripts.

Drawing from a GAN (fixed latents, batched generation) is ``gan_jax/sampling.py``.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import traceback
from typing import Any

import ml_collections

from gan_jax import state as state_lib
from gan_jax.errors import ConfigError, RunError, one_line


def load_python_file(path: str, function: str = "get_config", *args):
    """Calls ``function(*args)`` defined in the Python file ``path`` and returns its value.

    Raises ConfigError (one line) where the file is missing or unreadable, does not compile,
    defines no ``function``, or raises: the file is user code, any failure of it is the
    user's to fix.
    """
    where = f"config file {path or repr(path)}"
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ConfigError(f"cannot read {where}: {e.strerror}") from None
    name = "_gan_jax_file_" + re.sub(r"\W", "_", os.path.abspath(path))
    loader = importlib.machinery.SourceFileLoader(name, path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    # Registered while it runs, as an imported module is (dataclasses look their module up).
    sys.modules[name] = module
    try:
        loader.exec_module(module)
        target = getattr(module, function, None)
        if not callable(target):
            raise ConfigError(f"{where} defines no {function}()")
        return target(*args)
    except ConfigError:
        raise
    except SyntaxError as e:
        raise ConfigError(f"{where}, line {e.lineno}: {e.msg}") from None
    except Exception as e:  # noqa: BLE001  (user code: any failure is a config error)
        raise ConfigError(f"{where}{_line_in(e, path)}: {one_line(e)}") from None
    finally:
        sys.modules.pop(name, None)


def _line_in(error: BaseException, path: str) -> str:
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if os.path.abspath(frame.filename) == os.path.abspath(path)]
    return f", line {lines[-1]}" if lines else ""


def load_config(argument: str) -> ml_collections.ConfigDict:
    """The config of an experiment file, loaded as ml_collections' ``--config`` flag loads it:
    ``path.py`` calls ``get_config()``, ``path.py:arg`` calls ``get_config(arg)``.

    Raises ConfigError (one line) where the file cannot be loaded or returns something other
    than a ConfigDict.
    """
    path, colon, arg = argument.partition(":")
    config = load_python_file(path, "get_config", *([arg] if colon else []))
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"get_config() of config file {path} returned "
                          f"{type(config).__name__}, not an ml_collections.ConfigDict")
    return config


def config_of_workdir(workdir: str):
    """The config a run saved as ``workdir/config.json``, on today's defaults."""
    from gan_jax import configs

    if not os.path.isdir(workdir):
        raise RunError(f"no such workdir: {workdir}")
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise RunError(f"{workdir} holds no config.json: not a gan_jax workdir")
    try:
        with open(path) as f:
            return configs.from_json(json.load(f))
    except (OSError, ValueError, TypeError) as e:
        raise RunError(f"{path} cannot be read ({e}); it is not a gan_jax config") from None


def build(config, num_devices: int | None = None, axis_name: str | None = "data"):
    """(data source, GAN) of ``config``, validated first (ConfigError: one line)."""
    from gan_jax import configs

    source = configs.validate(config, num_devices)
    frequencies = None
    if config.generated_labels == "data" and source.spec.num_classes:
        frequencies = source.class_frequencies()
    return source, state_lib.make_gan(config, source.spec, axis_name, frequencies)


@dataclasses.dataclass
class Run:
    """One checkpoint of a run, restored."""

    config: Any
    source: Any
    gan: state_lib.GAN
    state: state_lib.GANState
    meta: dict
    path: str          # the checkpoint's directory

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def restore(workdir: str, which: str = "latest") -> Run:
    """The checkpoint ``which`` (``latest``, ``best`` or a step) of ``workdir``, restored.

    RunError (one line) for a missing workdir or checkpoint or an unreadable one; nothing is
    written or moved.
    """
    from gan_jax import checkpointing

    config = config_of_workdir(workdir)
    if which == "best":
        directory = os.path.join(workdir, "best_checkpoint")
    elif which == "latest" or which.isdigit():
        directory = os.path.join(workdir, "checkpoints")
    else:
        raise RunError(f"unknown --checkpoint value {which!r}; allowed: latest, best or a "
                       "step number")
    found = sorted(int(n) for n in os.listdir(directory) if n.isdigit()) \
        if os.path.isdir(directory) else []
    if not found:
        hint = ("the run kept no best checkpoint (set config.eval_every and "
                "config.best_metric)" if which == "best" else "train first")
        raise RunError(f"no checkpoint in {directory}; {hint}")
    step = found[-1] if which in ("latest", "best") else int(which)
    if step not in found:
        raise RunError(f"no checkpoint of step {step} in {directory}; steps there: "
                       + ", ".join(map(str, found)))
    source, gan = build(config, axis_name=None)
    template = state_lib.init_state(gan, config.seed)
    ckpt = checkpointing.Checkpointer(directory, create=False)
    try:
        state, meta = ckpt.restore(step, template)
    except Exception as e:  # noqa: BLE001  (any failure to read means damaged)
        raise RunError(f"the checkpoint of step {step} in {ckpt.step_path(step)} cannot be "
                       f"read ({one_line(e, 200)}); choose another with "
                       "--checkpoint (steps there: " + ", ".join(map(str, found)) + ")") from None
    finally:
        ckpt.close()
    return Run(config, source, gan, state, meta, ckpt.step_path(step))
