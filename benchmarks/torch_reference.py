"""PyTorch reference of gan_jax's models and train step, for side-by-side timing.

The modules mirror ``gan_jax/models/dcgan.py`` (the InfoGAN-style DCGAN, for
28x28x1 and 32x32x3 images), ``gan_jax/models/resnet.py`` (the SNGAN ResNet at 32x32x3,
spectral norm in D by ``torch.nn.utils.parametrizations.spectral_norm``) and
``gan_jax/models/mlp.py`` layer for layer, with
the same parameter counts (:func:`param_count`; ``benchmarks/speed.py`` prints
both frameworks' counts). :class:`TorchGAN` runs the step gan_jax runs:
``n_disc`` discriminator updates (G in train mode, fixed; D on the real and the
generated batch in two calls), then one generator update through the fixed D,
Adam for both, the non-saturating loss written with softplus. Tensors are NCHW,
PyTorch's native layout; the benchmark times eager mode, the way PyTorch GAN
code is usually written.

Requires the ``bench`` extra (``pip install -e .[bench]``); the test suite does
not import this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _init_normal(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases, as gan_jax's DCGAN."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


def _bn1d(n: int) -> nn.BatchNorm1d:
    # Flax momentum 0.9 (weight of the old value) is PyTorch momentum 0.1.
    return nn.BatchNorm1d(n, eps=1e-5, momentum=0.1)


def _bn2d(n: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(n, eps=1e-5, momentum=0.1)


class DCGANGenerator(nn.Module):
    """z [B, latent] -> images [B, C, H, W] in [-1, 1]."""

    def __init__(self, latent_dim: int, side: int, channels: int):
        super().__init__()
        self.side4 = side // 4
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 1024), _bn1d(1024), nn.ReLU(),
            nn.Linear(1024, self.side4 * self.side4 * 128), _bn1d(self.side4 * self.side4 * 128),
            nn.ReLU())
        # kernel 4, stride 2, padding 1 doubles the side, as Flax's "SAME".
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), _bn2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh())
        _init_normal(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], 128, self.side4, self.side4)
        return self.deconv(h)


class DCGANDiscriminator(nn.Module):
    """Images [B, C, H, W] -> raw scores [B]."""

    def __init__(self, side: int, channels: int):
        super().__init__()
        side4 = side // 4
        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), _bn2d(128), nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(side4 * side4 * 128, 1024), _bn1d(1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 1))
        _init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


class MLPGenerator(nn.Module):
    """z [B, latent] -> x [B, out_dim]; ``depth`` ReLU hidden layers, linear output."""

    def __init__(self, latent_dim: int, out_dim: int, hidden: int = 128, depth: int = 3):
        super().__init__()
        layers, width = [], latent_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """x [B, d] -> raw scores [B]; ``depth`` leaky-ReLU(0.2) hidden layers."""

    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 3):
        super().__init__()
        layers, width = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def _sn(layer: nn.Module) -> nn.Module:
    """Spectral norm, one power iteration per training-mode call (gan_jax's ``sn_layer``)."""
    return nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=1)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ResNetGBlock(nn.Module):
    """BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3 plus upsample-conv1x1 (gan_jax's GBlock)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.bn1, self.bn2 = _bn2d(c_in), _bn2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_upsample(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(_upsample(x))


class ResNetDBlock(nn.Module):
    """gan_jax's DBlock: the optimised first block or a pre-activation block, all convolutions
    spectrally normalised; the shortcut is a convolution when the size or width changes."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = _sn(nn.Conv2d(c_in, c_out if first else c_in, 3, 1, 1))
        self.conv2 = _sn(nn.Conv2d(c_out if first else c_in, c_out, 3, 1, 1))
        learnable = first or down or c_in != c_out
        self.shortcut = _sn(nn.Conv2d(c_in, c_out, 1)) if learnable else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = self.conv2(F.relu(h))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.first:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        s = x if self.shortcut is None else self.shortcut(x)
        return h + (F.avg_pool2d(s, 2) if self.down and self.shortcut is not None else s)


class ResNetGenerator(nn.Module):
    """SNGAN's CIFAR-10 generator (gan_jax's ``resnet`` at 32x32): z -> [B, 3, 32, 32]."""

    def __init__(self, latent_dim: int = 128, ch: int = 256):
        super().__init__()
        self.ch = ch
        self.fc = nn.Linear(latent_dim, 16 * ch)
        self.blocks = nn.Sequential(*[ResNetGBlock(ch, ch) for _ in range(3)])
        self.out = nn.Sequential(_bn2d(ch), nn.ReLU(), nn.Conv2d(ch, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.fc(z).view(z.shape[0], self.ch, 4, 4)))


class ResNetDiscriminator(nn.Module):
    """SNGAN's CIFAR-10 discriminator: [B, 3, 32, 32] -> scores [B]."""

    def __init__(self, ch: int = 128):
        super().__init__()
        self.blocks = nn.Sequential(ResNetDBlock(3, ch, True, True),
                                    ResNetDBlock(ch, ch, True, False),
                                    ResNetDBlock(ch, ch, False, False),
                                    ResNetDBlock(ch, ch, False, False))
        self.fc = _sn(nn.Linear(ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.fc(h)[:, 0]


def _grad_norm(module: nn.Module) -> torch.Tensor:
    """Global L2 norm of the module's gradients (``optax.tree.norm`` of gan_jax's step)."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(
        [p.grad for p in module.parameters() if p.grad is not None])))


def param_count(module: nn.Module) -> int:
    """Trainable parameters (BatchNorm's scale and bias count; running statistics do not)."""
    return sum(p.numel() for p in module.parameters())


class TorchGAN:
    """G, D, their Adam optimizers and the train step of ``gan_jax.steps.train_step``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent_dim: int,
                 lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), n_disc: int = 1):
        self.g, self.d = generator.train(), discriminator.train()
        self.latent_dim, self.n_disc = latent_dim, n_disc
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=betas)
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=betas)

    def d_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.randn(real.shape[0], self.latent_dim)
        with torch.no_grad():
            fake = self.g(z)
        real_logits, fake_logits = self.d(real), self.d(fake)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        metrics = {"d_loss": loss.detach(), "d_real": real_logits.detach().mean(),
                   "d_fake": fake_logits.detach().mean(), "d_grad_norm": _grad_norm(self.d)}
        self.d_opt.step()
        return metrics

    def g_step(self, batch_size: int) -> dict[str, torch.Tensor]:
        z = torch.randn(batch_size, self.latent_dim)
        # D is fixed: no gradients are accumulated for its parameters.
        for p in self.d.parameters():
            p.requires_grad_(False)
        loss = F.softplus(-self.d(self.g(z))).mean()
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        metrics = {"g_loss": loss.detach(), "g_grad_norm": _grad_norm(self.g)}
        self.g_opt.step()
        for p in self.d.parameters():
            p.requires_grad_(True)
        return metrics

    def train_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """``real``: [n_disc, B, ...], one slice per D step. Returns the metrics that
        gan_jax's step returns: the last D step's and the G step's."""
        metrics = {}
        for k in range(self.n_disc):
            metrics = self.d_step(real[k])
        return {**metrics, **self.g_step(real.shape[1])}


def dcgan(side: int, channels: int, latent_dim: int = 64) -> TorchGAN:
    """The DCGAN of gan_jax at ``side`` x ``side`` x ``channels``."""
    return TorchGAN(DCGANGenerator(latent_dim, side, channels),
                    DCGANDiscriminator(side, channels), latent_dim)


def mlp(data_dim: int = 2, latent_dim: int = 2, hidden: int = 128, depth: int = 3,
        lr: float = 1e-3) -> TorchGAN:
    """The MLP toy GAN of gan_jax (ring8's sizes by default)."""
    return TorchGAN(MLPGenerator(latent_dim, data_dim, hidden, depth),
                    MLPDiscriminator(data_dim, hidden, depth), latent_dim, lr=lr)


def resnet32(latent_dim: int = 128, g_ch: int = 256, d_ch: int = 128) -> TorchGAN:
    """The SNGAN ResNet of gan_jax at 32x32x3 (Adam 2e-4, b1 0.5, as the other cases)."""
    return TorchGAN(ResNetGenerator(latent_dim, g_ch), ResNetDiscriminator(d_ch), latent_dim)
