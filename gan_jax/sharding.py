"""The device mesh and how state and batches are laid out on it.

One axis, ``"data"``, over every device of every process: the training state is
replicated, and every leaf of a batch pytree (``{"image": [n_disc, B, ...],
"label": [n_disc, B]}``) is split over devices along its example axis (axis 1).
A leaf module below both the data layer and the step functions.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"
# Every leaf of a batch: [n_disc, global_batch, ...], examples split over devices.
BATCH_SPEC = P(None, AXIS)


def make_mesh(devices=None) -> Mesh:
    """A one-axis mesh named "data" over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices, dtype=object), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of the state: a full copy on every device."""
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The sharding of one batch leaf [n_disc, global_batch, ...]: examples split over devices."""
    return NamedSharding(mesh, BATCH_SPEC)


def global_batch_from_local(mesh: Mesh, local: dict[str, np.ndarray], global_batch: int
                            ) -> dict[str, jax.Array]:
    """This process's share ``{name: [n_disc, B_process, ...]}`` as global sharded arrays."""
    sharding = batch_sharding(mesh)
    return {name: jax.make_array_from_process_local_data(
        sharding, value, (value.shape[0], global_batch, *value.shape[2:]))
        for name, value in local.items()}
