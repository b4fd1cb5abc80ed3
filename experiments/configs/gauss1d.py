"""A 1-D Gaussian, the setting of Goodfellow et al. (2014), Figure 1.

    python -m gan_jax.main --config experiments/configs/gauss1d.py --workdir workdirs/gauss1d

Run time: under a minute for 3,000 steps on a 2-core CPU.
A good result: in workdir/samples/ the histogram of generated samples sits on
the data density N(2, 0.5^2) and the discriminator's curve D(x) flattens towards
1/2 where the two overlap (D* = p_data / (p_data + p_g)).
Evaluation: every 1,000 steps ``eval/parzen_ll``, the Parzen-window log-likelihood of
2,500 real test points under 2,500 generated samples (Goodfellow et al. 2014, bandwidth
chosen on 1,000 real validation points); exact samples of N(2, 0.5^2) score -0.727 to
-0.729 nats (three seeds; minus the entropy, -0.726, is the limit), a generator twice
too wide (N(2, 1)) -1.06. workdir/best_checkpoint/ keeps the highest. The estimate rewards a
generator that is too narrow almost as much as an exact one (Theis et al. 2016), so
look at the histogram too.
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config():
    c = base_config()
    c.data.name = "gauss1d"
    c.data.means = (2.0,)
    c.data.stds = (0.5,)
    c.model = model_config("mlp", latent_dim=4, hidden=128, depth=2)
    c.loss = "nonsaturating"
    c.batch_size = 256
    c.num_steps = 3000
    c.optim.g.lr = c.optim.d.lr = 1e-3
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 1000
    c.eval_every = 1000               # mode statistics and Parzen log-likelihood, 2,500 samples
    c.best_metric = "parzen_ll"
    return c
