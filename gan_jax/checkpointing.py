"""Checkpoints of a run: a thin wrapper over orbax-checkpoint's CheckpointManager.

A checkpoint holds two items: ``state`` (the whole GANState, restored onto the
shardings of a template) and ``meta`` (JSON: step, examples consumed per
process, the config). Orbax writes each checkpoint into a temporary directory
and renames it only when complete, so a partly written checkpoint is never
listed, and never loaded.

A checkpoint that was completely written but cannot be read back (a truncated
or damaged file) is moved aside into ``damaged_checkpoints/`` beside
``checkpoints/``, never deleted, with a warning naming it; the next older one
is restored instead.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from gan_jax.errors import CheckpointError, one_line

# errno values that mean the disk cannot take the checkpoint.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class Checkpointer:
    """Saves and restores GANStates under ``directory`` (one subdirectory per step)."""

    def __init__(self, directory: str, max_to_keep: int = 3, create: bool = True):
        """``create=False`` opens an existing directory only (reading a finished run)."""
        self.directory = os.path.abspath(directory)
        # With several processes, orbax names its barriers by step; two managers of one run
        # (checkpoints/ and best_checkpoint/) saving the same step at once would meet at the
        # same barrier and fail. The directory's name keeps each manager's barriers apart.
        processes = ocp.options.MultiprocessingOptions(
            barrier_sync_key_prefix=os.path.basename(self.directory))
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create,
                                                 multiprocessing_options=processes),
            item_names=("state", "meta"),
        )

    def step_path(self, step: int) -> str:
        """The directory that holds the checkpoint of ``step``."""
        return os.path.join(self.directory, str(step))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Starts saving; device buffers are copied before this returns.

        A full or unwritable disk (now, or in the write of an earlier save that this
        call waits for) raises CheckpointError naming the directory and the newest
        checkpoint that is complete; the half-written one stays a temporary directory
        that is never loaded.
        """
        try:
            self._manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
        except Exception as e:  # noqa: BLE001  (orbax may wrap the OSError)
            self._raise_if_disk_error(e, step)
            raise

    def restore(self, step: int, template: Any) -> tuple[Any, dict[str, Any]]:
        """Restores (state, meta) of ``step`` with the dtypes and shardings of ``template``."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return restored["state"], restored["meta"]

    def delete(self, step: int) -> None:
        self._manager.delete(step)

    def restore_meta(self, step: int) -> dict[str, Any]:
        """The JSON item of ``step``'s checkpoint, without reading the state."""
        return self._manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))["meta"]

    def restore_latest(self, template: Any) -> tuple[Any, dict[str, Any]] | None:
        """Restores the newest readable checkpoint; None when there is none at all.

        A checkpoint that fails to load is moved to ``damaged_checkpoints/`` with a
        warning and the next older one is tried. Raises CheckpointError when
        checkpoints exist but none can be read.
        """
        steps = sorted(self.all_steps(), reverse=True)
        if not steps:
            return None
        damaged = []
        for step in steps:
            try:
                return self.restore(step, template)
            except Exception as e:  # noqa: BLE001  (any failure to read means damaged)
                moved = self._move_aside(step)
                damaged.append(moved)
                older = [s for s in steps if s < step]
                then = (f"falling back to the checkpoint of step {older[0]}" if older
                        else "no older checkpoint is left")
                message = (f"warning: the checkpoint of step {step} in {self.step_path(step)} "
                           f"is damaged ({one_line(e, 300)}); moved it to {moved}; {then}")
                logging.warning(message)
                if jax.process_index() == 0:
                    print(message, file=sys.stderr, flush=True)
        raise CheckpointError(f"none of the checkpoints in {self.directory} can be read; "
                              f"the damaged ones are in {os.path.dirname(damaged[0])}; "
                              "start the run over in another workdir or with --restart")

    def _move_aside(self, step: int) -> str:
        """Moves the checkpoint of ``step`` into ``damaged_checkpoints/``; returns where."""
        target_dir = os.path.join(os.path.dirname(self.directory), "damaged_checkpoints")
        target = os.path.join(target_dir, str(step))
        if jax.process_index() == 0:
            os.makedirs(target_dir, exist_ok=True)
            n = 1
            while os.path.exists(target):
                target, n = os.path.join(target_dir, f"{step}.{n}"), n + 1
            shutil.move(self.step_path(step), target)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices(f"gan_jax_damaged_checkpoint_{step}")
        self._manager.reload()
        return target

    def wait(self) -> None:
        """Blocks until every started save is on disk (CheckpointError on a disk error)."""
        try:
            self._manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001
            self._raise_if_disk_error(e, None)
            raise

    def _raise_if_disk_error(self, error: BaseException, step: int | None) -> None:
        """Turns an OSError of the disk (full, quota, read-only, permission) into one line."""
        cause: BaseException | None = error
        while cause is not None and not (isinstance(cause, OSError)
                                         and cause.errno in _DISK_ERRNOS):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            return
        try:
            good = self._manager.latest_step()
        except Exception:  # noqa: BLE001  (listing may fail on the same disk)
            good = None
        kept = (f"the checkpoint of step {good} is intact in {self.step_path(good)}"
                if good is not None and good != step else "no earlier checkpoint exists")
        which = f"the checkpoint of step {step}" if step is not None else "a checkpoint"
        raise CheckpointError(
            f"cannot write {which} in {self.directory}: {os.strerror(cause.errno)}; "
            f"{kept}; free some space (or fix the permissions) and rerun the same command "
            "to resume, or point --workdir at another disk") from None

    def close(self) -> None:
        self._manager.close()
