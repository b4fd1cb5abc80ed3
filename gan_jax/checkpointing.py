"""Checkpoints of a run: a thin wrapper over orbax-checkpoint's CheckpointManager.

A checkpoint holds two items: ``state`` (the whole GANState, restored onto the
shardings of a template) and ``meta`` (JSON: step, examples consumed per
process, the config). Orbax writes each checkpoint into a temporary directory
and renames it only when complete, so a partly written checkpoint is never
listed, and never loaded.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores GANStates under ``directory`` (one subdirectory per step)."""

    def __init__(self, directory: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_names=("state", "meta"),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Starts saving; device buffers are copied before this returns."""
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

    def restore(self, step: int, template: Any) -> tuple[Any, dict[str, Any]]:
        """Restores (state, meta) of ``step`` with the dtypes and shardings of ``template``."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return restored["state"], restored["meta"]

    def wait(self) -> None:
        """Blocks until every started save is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
