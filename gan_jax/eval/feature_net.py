"""The LeNet-style feature network behind gan_jax's image metrics.

No package registry ships Inception weights, so FD, KID, precision/recall,
density/coverage and the classifier score of gan_jax are computed on the
features of a small classifier that gan_jax trains itself on the real training
split of each dataset (LeCun et al. 1998, "Gradient-based learning applied to
document recognition", for the conv-pool-conv-pool-dense layout).

- :class:`LeNet` maps images ``[N, H, W, C]`` float32 in [-1, 1] (the
  generator's tanh range, the input pipeline's scaling ``x / 127.5 - 1``) to
  ``(logits [N, 10], features [N, FEATURE_DIM])``; the features are the
  penultimate (post-ReLU) layer.
- :func:`train` trains one deterministically (fixed seed, fixed data order,
  no augmentation, Adam with a cosine schedule, jitted step) and
  :func:`save` writes it as an orbax checkpoint plus ``feature_net.json``
  (settings, accuracy, the parameters' SHA-256 whose first 8 hex digits make
  the network's id, e.g. ``lenet-mnist-1a2b3c4d``).
- :func:`load` finds a network by dataset name: a copy beside the data
  (``<data_dir>/gan_jax_features/<name>/``), else the weights shipped in
  ``gan_jax/eval/weights/<name>/``, else it trains one on first use, saves it
  beside the data and says so in one line.

``mnist`` and ``fashion_mnist`` are trained on their train split and tested
on their test split; ``mnist5k`` and ``digits`` have only a train split, so
10% of each class (a seeded choice, ``real_data.holdout_mask``) is held out for the
test and never trained on.

Command line (also ``gan-jax features``)::

    python -m gan_jax.eval.feature_net train NAME [--data_dir D] [--out DIR] [--epochs E]
    python -m gan_jax.eval.feature_net test NAME [--data_dir D]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.errors import DataError
from gan_jax.eval.real_data import (
    HOLDOUT_FRACTION,
    data_root,
    holdout_mask,
    load_split,
    scale,
)

FEATURE_DIM = 64
NUM_CLASSES = 10
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
INFO_FILE = "feature_net.json"
PARAMS_DIR = "params"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the network of one dataset is built and trained."""

    shape: tuple[int, int, int]     # one image
    kernel: int                     # conv kernel side
    epochs: int
    test_split: str | None          # None: hold out 10% of each class of "train"
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0


RECIPES = {
    "mnist": Recipe((28, 28, 1), kernel=5, epochs=4, test_split="test"),
    "fashion_mnist": Recipe((28, 28, 1), kernel=5, epochs=8, test_split="test"),
    "mnist5k": Recipe((28, 28, 1), kernel=5, epochs=30, test_split=None),
    "digits": Recipe((8, 8, 1), kernel=3, epochs=25, test_split=None, batch_size=64),
}


class FeatureNetError(ValueError):
    """A feature network cannot be found, trained or read; the message is one line."""


class LeNet(nn.Module):
    """conv-ReLU-maxpool twice, dense(FEATURE_DIM)-ReLU (the features), dense(10).

    Input ``[N, H, W, C]`` float32 in [-1, 1]; output ``(logits [N, 10],
    features [N, FEATURE_DIM])``, both float32.
    """

    kernel: int = 5
    channels: tuple[int, ...] = (16, 32)

    @nn.compact
    def __call__(self, x):
        for ch in self.channels:
            x = nn.relu(nn.Conv(ch, (self.kernel, self.kernel), padding="SAME")(x))
            x = _max_pool_2x2(x)
        feats = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape(x.shape[0], -1)))
        return nn.Dense(NUM_CLASSES)(feats), feats


def _max_pool_2x2(x):
    """2x2 max pooling, stride 2, as a reshape and a max: the same values as
    ``nn.max_pool(x, (2, 2), strides=(2, 2))``, with a gradient that XLA on CPU
    computes about twice as fast as max_pool's select-and-scatter."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def check_name(name: str) -> Recipe:
    if name not in RECIPES:
        raise FeatureNetError(f"no feature network for dataset {name!r}; gan_jax has one for "
                              f"{', '.join(RECIPES)}")
    return RECIPES[name]


def train_test_data(name: str, data_dir: str | None):
    """``(train_images, train_labels, test_images, test_labels)`` per the dataset's recipe."""
    recipe = check_name(name)
    images, labels = load_split(name, data_dir, "train")
    if recipe.test_split is not None:
        test_images, test_labels = load_split(name, data_dir, recipe.test_split)
        return images, labels, test_images, test_labels
    held = holdout_mask(labels)
    return images[~held], labels[~held], images[held], labels[held]


@dataclasses.dataclass
class FeatureNet:
    """A trained network: its parameters, id and the settings it was trained with."""

    name: str
    params: dict
    info: dict
    path: Path | None = None

    @property
    def id(self) -> str:
        return self.info["id"]

    @property
    def module(self) -> LeNet:
        return LeNet(kernel=self.info["kernel"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.info["input_shape"])

    def apply(self, images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """``(logits [N, 10], features [N, FEATURE_DIM])`` float32 NumPy of images in [-1, 1].

        Runs in fixed-size jitted batches (the last one padded) so any N compiles once.
        """
        return _apply_batched(self.module, self.params, images, batch_size)


@functools.partial(jax.jit, static_argnums=0)
def _forward(module, params, x):
    return module.apply({"params": params}, x)


def _apply_batched(module, params, images, batch_size):
    images = np.asarray(images, np.float32)
    n = images.shape[0]
    batch = min(batch_size, n)
    logits, feats = [], []
    for start in range(0, n, batch):
        chunk = images[start:start + batch]
        pad = batch - chunk.shape[0]
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), np.float32)])
        lo, fe = jax.device_get(_forward(module, params, chunk))
        logits.append(lo[:batch - pad])
        feats.append(fe[:batch - pad])
    return np.concatenate(logits), np.concatenate(feats)


def accuracy(net: FeatureNet, images_uint8: np.ndarray, labels: np.ndarray) -> float:
    logits, _ = net.apply(scale(images_uint8))
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def params_sha256(params) -> str:
    """SHA-256 over every parameter's path, dtype, shape and bytes, in path order."""
    digest = hashlib.sha256()
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
        arr = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{arr.dtype}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def train(name: str, data_dir: str | None = None, *, epochs: int | None = None,
          max_steps: int | None = None, log=print) -> FeatureNet:
    """Trains the feature network of ``name`` and returns it with its test accuracy.

    Deterministic: parameters from ``PRNGKey(recipe.seed)``, epoch e visits the
    training set in the order ``default_rng(seed + e).permutation``, the last
    partial batch of each epoch is dropped. ``max_steps`` cuts training short
    (the cosine schedule is laid out over the cut budget).
    """
    recipe = check_name(name)
    epochs = recipe.epochs if epochs is None else epochs
    x_train, y_train, x_test, y_test = train_test_data(name, data_dir)
    if tuple(x_train.shape[1:]) != recipe.shape:
        raise FeatureNetError(f"{name}: images have shape {x_train.shape[1:]}, the feature "
                              f"network expects {recipe.shape}")
    start = time.perf_counter()
    module = LeNet(kernel=recipe.kernel)
    params = module.init(jax.random.PRNGKey(recipe.seed),
                         jnp.zeros((1, *recipe.shape), jnp.float32))["params"]
    steps_per_epoch = x_train.shape[0] // recipe.batch_size
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps,
                                                                   epochs * steps_per_epoch)
    tx = optax.adam(optax.cosine_decay_schedule(recipe.lr, max(total, 1)))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits, _ = module.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    x_scaled = scale(x_train)
    done = 0
    for epoch in range(epochs):
        order = np.random.default_rng(recipe.seed + epoch).permutation(x_train.shape[0])
        for i in range(steps_per_epoch):
            if done == total:
                break
            idx = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            params, opt_state, loss = step(params, opt_state, x_scaled[idx], y_train[idx])
            done += 1
    params = jax.device_get(params)
    info = {
        "dataset": name,
        "architecture": "LeNet conv-relu-maxpool x2, dense-relu (features), dense",
        "kernel": recipe.kernel,
        "channels": list(LeNet.channels),
        "feature_dim": FEATURE_DIM,
        "input_shape": list(recipe.shape),
        "input_range": "[-1, 1] (uint8 / 127.5 - 1)",
        "optimizer": f"adam, cosine decay from {recipe.lr}",
        "batch_size": recipe.batch_size,
        "epochs": epochs,
        "steps": done,
        "seed": recipe.seed,
        "train_examples": int(x_train.shape[0]),
        "test_examples": int(x_test.shape[0]),
        "test_split": recipe.test_split or (f"{HOLDOUT_FRACTION:.0%} of each class of train "
                                            "held out (feature_net.holdout_mask, seed 0)"),
        "train_seconds": round(time.perf_counter() - start, 1),
        "jax_version": jax.__version__,
    }
    sha = params_sha256(params)
    info["params_sha256"] = sha
    info["id"] = f"lenet-{name}-{sha[:8]}"
    net = FeatureNet(name, params, info)
    info["test_accuracy"] = round(accuracy(net, x_test, y_test), 5)
    log(f"{name}: trained {info['id']} in {done} steps ({info['train_seconds']} s), "
        f"test accuracy {info['test_accuracy']:.4f} on {x_test.shape[0]} examples")
    return net


def save_params(params, info: dict, directory, info_file: str) -> Path:
    """Writes ``directory/params`` (orbax) and ``directory/<info_file>`` (JSON).

    Written into a temporary sibling and renamed, so ``directory`` is either
    absent, the old contents, or complete.
    """
    import orbax.checkpoint as ocp

    directory = Path(directory).resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
    try:
        with ocp.StandardCheckpointer() as ckpt:
            ckpt.save(tmp / PARAMS_DIR, params)
        (tmp / info_file).write_text(json.dumps(info, indent=1) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def save(net: FeatureNet, directory) -> Path:
    """Writes ``directory/params`` (orbax) and ``directory/feature_net.json``, atomically."""
    net.path = save_params(net.params, net.info, directory, INFO_FILE)
    return net.path


def read(directory, name: str) -> FeatureNet:
    """Reads a saved network and checks it: the JSON, the shapes, the parameters' hash."""
    import orbax.checkpoint as ocp

    directory = Path(directory)
    fix = f"delete {directory} to have it retrained, or reinstall gan_jax"
    try:
        info = json.loads((directory / INFO_FILE).read_text())
        module = LeNet(kernel=info["kernel"])
        shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0),
                                jnp.zeros((1, *info["input_shape"]), jnp.float32))["params"]
        with ocp.StandardCheckpointer() as ckpt:
            params = ckpt.restore(directory.resolve() / PARAMS_DIR, shapes)
        params = jax.tree.map(np.asarray, params)
    except Exception as e:  # any failure to read means the same thing to the user
        text = " ".join(str(e).split())[:200]
        raise FeatureNetError(f"feature network {directory} cannot be read "
                              f"({type(e).__name__}: {text}); {fix}") from None
    if info.get("dataset") != name:
        raise FeatureNetError(f"feature network {directory} is for {info.get('dataset')!r}, "
                              f"not {name!r}; {fix}")
    if params_sha256(params) != info.get("params_sha256"):
        raise FeatureNetError(f"feature network {directory} is damaged: its parameters do not "
                              f"match the hash in {INFO_FILE}; {fix}")
    return FeatureNet(name, params, info, directory)


def beside_data(name: str, data_dir: str | None) -> Path:
    return data_root(data_dir) / "gan_jax_features" / name


def load(name: str, data_dir: str | None = None, *, weights_dir: Path | None = None,
         log=print) -> FeatureNet:
    """The feature network of ``name``: beside the data, else shipped, else trained now.

    ``weights_dir`` replaces the shipped weights directory (tests point it at an
    empty one to exercise training on first use).
    """
    check_name(name)
    shipped = (WEIGHTS_DIR if weights_dir is None else Path(weights_dir)) / name
    for place in (beside_data(name, data_dir), shipped):
        if (place / INFO_FILE).is_file():
            return read(place, name)
    dest = beside_data(name, data_dir)
    log(f"No feature network for {name} beside the data or shipped: training one now and "
        f"saving it to {dest}")
    net = train(name, data_dir, log=log)
    save(net, dest)
    return net


def main(argv: list[str] | None = None) -> int:
    """CLI (``train`` or ``test``); errors print ``gan-jax: error: ...`` and return 2."""
    parser = argparse.ArgumentParser(prog="gan-jax features",
                                     description="Train or test the LeNet feature network.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train and save the network of a dataset")
    p_test = sub.add_parser("test", help="print the test accuracy of the network load() finds")
    for p in (p_train, p_test):
        p.add_argument("name", help=f"one of {', '.join(RECIPES)}")
        p.add_argument("--data_dir", default=None,
                       help="TFDS data dir (default ~/tensorflow_datasets)")
    p_train.add_argument("--out", default=None,
                         help="parent directory; the network goes to OUT/NAME "
                              "(default: beside the data, DATA_DIR/gan_jax_features/NAME)")
    p_train.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = parser.parse_args(argv)
    try:
        check_name(args.name)
        if args.command == "train":
            if args.epochs is not None and args.epochs < 1:
                raise FeatureNetError(f"--epochs must be >= 1, got {args.epochs}")
            dest = (Path(args.out) / args.name if args.out
                    else beside_data(args.name, args.data_dir))
            net = train(args.name, args.data_dir, epochs=args.epochs)
            print(f"saved to {save(net, dest)}")
        else:
            net = load(args.name, args.data_dir)
            _, _, x_test, y_test = train_test_data(args.name, args.data_dir)
            print(f"{args.name}: {net.id} from {net.path}: test accuracy "
                  f"{accuracy(net, x_test, y_test):.4f} on {x_test.shape[0]} examples")
    except (FeatureNetError, DataError) as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
