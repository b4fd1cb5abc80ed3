"""Mode collapse on grid-25 trained ten times longer: 10,000 G steps per run.

The protocol, methods and settings are those of ``experiments/paper/mode_collapse.py``
(VEEGAN / PacGAN: 25 Gaussians on {-4, -2, 0, 2, 4}^2 with std 0.05, 2,500 samples, high
quality within 3 std, three seeds); only the schedule differs. At mode_collapse.py's 1,000
steps, which keep that command within ten minutes, the grid-25 generators still spread their
mass between the modes (a few per cent of samples are high quality), so the counts of modes
captured say little; this command trains each method for 10,000 G steps. Ring-8 is left out:
its generators already settle on the modes at 1,000 steps. Run time: about 25 minutes on 2
CPU cores, most of it the unrolled GAN and WGAN-GP's five critic steps. The unrolled GAN here
runs on gan_jax's settings (the ``gan_jax`` protocol of ``experiments/paper/unrolled.py``,
which also runs it on Metz et al.'s and VEEGAN's protocols).

    python -m experiments.paper.mode_collapse_long [--out DIR] [--quick]
"""

from __future__ import annotations

from experiments.paper import common, mode_collapse

NUM_STEPS = 10_000


def run(out_dir: str, quick: bool = False) -> dict:
    """mode_collapse.run on grid-25 at NUM_STEPS (quick: its shortened ring-8 version)."""
    return mode_collapse.run(out_dir, quick, num_steps=NUM_STEPS, datasets=("grid25",),
                             name="mode_collapse_long")


if __name__ == "__main__":
    common.main(run, __doc__)
