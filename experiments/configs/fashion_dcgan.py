"""DCGAN (the InfoGAN-style model of Lucic et al. 2018) on Fashion-MNIST, through TFDS.

    gan-jax data prepare fashion_mnist
    python -m gan_jax.main --config experiments/configs/fashion_dcgan.py --workdir workdirs/fashion
    python -m gan_jax.main --config experiments/configs/fashion_dcgan.py:gpu \
        --workdir workdirs/fashion_gpu

The first command builds the TFDS dataset ``fashion_mnist`` (offline from the
Debian package dataset-fashion-mnist, or by the usual TFDS download).
Run time: about 2.2 steps/s at batch 64 on a 2-core CPU (benchmarks/speed.py), so
the 10,000 steps take about 75 minutes; minutes on one GPU with the
``:gpu`` variant (64 examples per device, bfloat16 layers).
A good result: the grids in workdir/samples/ show shirts, trousers, shoes and
bags with clear outlines by step 5,000.
Evaluation: every 1,000 steps FD-LeNet, KID, precision/recall, density/coverage and
the classifier score of 5,000 samples against 5,000 real training images (``eval/`` in
metrics.jsonl; ~2.5% of the run); workdir/best_checkpoint/ keeps the lowest FD-LeNet,
and ``gan-jax eval --workdir W --checkpoint best`` prints its numbers.
"""

from gan_jax.configs import dcgan_image_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    return dcgan_image_config("fashion_mnist", arg)
