"""Ring of 8 Gaussians (radius 1, std 0.01): the VEEGAN / PacGAN mode-collapse toy.

    python -m gan_jax.main --config experiments/configs/ring8.py --workdir workdirs/ring8

Run time: about 1.5 minutes for 5,000 steps on a 2-core CPU.
A good result: the scatter plots in workdir/samples/ put samples on all 8 modes
of the ring (``modes_captured`` 8 in metrics.jsonl), most of them within 3
standard deviations of a mode (``high_quality`` well above 0.5). A collapsed
run cycles around the ring covering one or a few modes at a time.
Evaluation: every 500 steps the mode statistics of 2,500 samples from fixed latents
(the VEEGAN/PacGAN protocol) are logged as ``eval/modes_captured``,
``eval/high_quality`` and ``eval/reverse_kl`` (about 10 ms each: ``eval_seconds`` in
metrics.jsonl); workdir/best_checkpoint/ keeps the step with the highest
``high_quality``, read back by ``gan-jax eval --workdir W --checkpoint best``.
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config():
    c = base_config()
    c.data.name = "ring8"
    c.data.radius = 1.0
    c.data.std = 0.01
    c.model = model_config("mlp", latent_dim=2, hidden=128, depth=3)
    c.loss = "nonsaturating"
    c.batch_size = 256
    c.num_steps = 5000
    c.optim.g.lr = c.optim.d.lr = 1e-3
    c.log_every = 100
    c.sample_every = 1000
    c.checkpoint_every = 1000
    c.eval_every = 500                # mode statistics on 2,500 samples: ~10 ms each
    c.best_metric = "high_quality"
    return c
