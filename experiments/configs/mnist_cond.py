"""Class-conditional DCGAN on the full MNIST: conditional batch norm in G, a projection D.

    gan-jax data prepare mnist
    nice -n 5 python -m gan_jax.main --config experiments/configs/mnist_cond.py \
        --workdir workdirs/mnist_cond
    python -m gan_jax.main --config experiments/configs/mnist_cond.py:gpu \
        --workdir workdirs/mnist_cond_gpu

The DCGAN of Lucic et al. (2018) (``mnist_dcgan.py``) with
``config.model.conditioning = "cbn+projection"``: G's batch norms take a per-class gain
and bias, D adds embed(y) . phi(x) to its score (Miyato & Koyama 2018); generated labels
are uniform over the 10 digits. ``--config.model.conditioning=acgan`` trains the AC-GAN
of Odena et al. (2017) instead (one-hot label appended to z, an auxiliary classifier on
D, ``config.model.acgan_weight``), and ``concat`` the conditional GAN of Mirza &
Osindero (2014).

Run time: 1,500 steps at batch 64, evaluations at steps 500, 1,000 and 1,500: about 12
minutes on 2 free cores (2.2 steps/s, benchmarks/speed.py, plus about 30 s per
evaluation); the recorded run (seed 0, ``nice -n 5`` on a 2-core AMD EPYC with AVX2 and
AVX-512, beside other jobs at a load average of 12 to 18) took 68 minutes.
Recorded result (5,000 samples, 500 per class, against 5,000 real training digits):
class accuracy 0.268 at step 500, 0.906 at 1,000 and 0.963 at 1,500 (chance 0.1);
FD-LeNet 457, 19.6 and 6.39; ``gan-jax eval --workdir W`` of step 1,500 repeats 0.9626 and
6.39 and adds intra-class FD-LeNet 24.0. The step-1,500 grid
(docs/images/mnist_cond_grid.png, from ``gan-jax sample --workdir W --num 100 --out
grid``) shows each row's digit in all ten
columns, 0 to 9 from top to bottom, with varied slant and stroke width; a few 4s and 9s
are open or thin.
The sample grids in workdir/samples/ (and ``gan-jax sample``) show one row per class,
digits 0 to 9 from top to bottom. Evaluation: FD-LeNet, KID, precision/recall,
density/coverage, the classifier score, class accuracy (the share of 5,000 samples that
the MNIST LeNet assigns to the digit they were generated for; chance 0.1) and the
intra-class FD-LeNet (the Frechet distance per class, averaged over the 10 classes).
"""

from gan_jax.configs import dcgan_image_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = dcgan_image_config("mnist", arg)
    c.model = model_config("dcgan", latent_dim=64, conditioning="cbn+projection")
    c.num_steps = 1500
    c.eval_every = c.sample_every = c.checkpoint_every = 500
    c.log_every = 50
    return c
