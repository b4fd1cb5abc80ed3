"""Every loss of gan_jax.losses.LOSSES on the ring of 8 Gaussians, 3 seeds each.

    python -m gan_jax.sweep --sweep experiments/sweeps/losses_ring8.py \
        --workdir workdirs/sweeps/losses_ring8 --parallel 2

Run time: about 8 minutes on two free CPU cores (15.8 CPU-minutes for 60 runs of 1,000
steps, 2 at a time; 22 minutes on a 2-core machine shared with other jobs).

Base: experiments/configs/ring8.py (MLP G and D, 3 hidden layers of 128, Adam 1e-3 with
b1 = 0.5, batch 256), shortened to ``NUM_STEPS`` G updates. One variant per entry of
``LOSSES`` with its own defaults, plus the Wasserstein critic with each of its Lipschitz
devices: weight clipping (Arjovsky et al. 2017) and the two- and one-sided gradient
penalties (Gulrajani et al. 2017), these with 5 critic updates per G update as in the
papers. The table reports, at the last step, modes captured (of 8), the share of
high-quality samples (within 3 std of a mode) and the reverse KL of the mode histogram to
the uniform one (0 is perfect, log 8 = 2.08 is one mode).
"""

import os

from gan_jax import losses

NUM_STEPS = 1000

_CRITIC = {"loss": "wasserstein", "n_disc": 5}


def get_sweep():
    variants = [(name, {"loss": name}) for name in losses.LOSSES]
    variants += [
        ("wasserstein+clip", {**_CRITIC, "clip_weights": 0.01}),
        ("wasserstein+gp", {**_CRITIC, "penalty": "gp", "penalty_weight": 0.1}),
        ("wasserstein+gp_one_sided", {**_CRITIC, "penalty": "gp_one_sided",
                                      "penalty_weight": 0.1}),
    ]
    return dict(
        config=os.path.join(os.path.dirname(__file__), "..", "configs", "ring8.py"),
        overrides={"num_steps": NUM_STEPS, "log_every": NUM_STEPS, "sample_every": NUM_STEPS,
                   "checkpoint_every": NUM_STEPS, "progress_bar": False},
        variants=variants,
        seeds=[0, 1, 2],
        metrics=("modes_captured", "high_quality", "reverse_kl"),
    )
