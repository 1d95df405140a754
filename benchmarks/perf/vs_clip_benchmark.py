"""mmbench against CLIP_benchmark, side by side: each harness's cost over its own bare loop,
and the scores both give for the same weights on the same data.

Data: the real OpenMoji emoji at 96 px (mmbench's `openmoji` corpus; its test split), written
as CLIP_benchmark-layout WebDataset shards, `root/test/{0..n-1}.tar` plus `nshards.txt`:
a zero-shot set (`<key>.png` + `<key>.cls`, `classnames.txt` = the emoji groups,
`zeroshot_classification_templates.txt` = mmbench's default templates in `{c}` form) and a
retrieval set (`<key>.png` + `<key>.txt` = the CLDR name, `dataset_type.txt` = retrieval),
the very same PNG bytes in both. mmbench ingests both with its `webdataset` adapter once
(timed apart; not part of a run).

Models: a transformers CLIPModel with random weights (seed 0), quick_gelu, at the two sizes
of `eval_batch.py` (tiny: hidden 64, 2 layers; ViT-S/32 size: hidden 384, 12 layers), with an
HF CLIPTokenizer built from open_clip's own BPE (`bpe_simple_vocab_16e6.txt.gz`, vocabulary
49,408). The same weights are converted into an open_clip checkpoint (`--pretrained
ckpt.pt`, with a model config registered through `open_clip.add_model_config`). Checked
before anything is timed: token ids of every prompt and caption, pixel tensors (open_clip's
torchvision transform against mmbench's hf-clip preprocessing), image and text embeddings.

Correctness: CLIP_benchmark's CLI (`--no_amp`: its default autocast runs bfloat16 on CPU)
and `mmbench run` (retrieval with `ties: optimistic`) on the same shards; top-1, top-5 and
mean-per-class accuracy, recall@1/5/10 both ways, and per-sample predictions compared (the
CLI's own code, with its arrays captured, in one extra run per row).

Overhead: wall time and whole-process-tree peak PSS (as `evaluate_overhead.py` measures them)
of each harness against a bare loop in its own environment doing the same forward passes on
the same data: for CLIP_benchmark an open_clip loop reading the tars with the same transform
and tokenizer (in CLIP_benchmark's venv), for mmbench `evaluate_overhead.py`'s loop
(transformers + pyarrow). Both sides 2 threads (`OMP_NUM_THREADS` too), batch 128, a fresh
process per run, the four commands of a row interleaved (their order reversed every other
repeat), medians of the repeats.

CLIP_benchmark needs torchvision, so it lives in a separate venv, given with `--venv`:

    python -m venv /tmp/cbvenv && /tmp/cbvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \\
        clip-benchmark requests "numpy<2.4"
    python benchmarks/perf/vs_clip_benchmark.py --venv /tmp/cbvenv                      # full
    python benchmarks/perf/vs_clip_benchmark.py --venv /tmp/cbvenv --images 150 --repeat 1 --sizes tiny  # smoke

Without `--venv`, or with a venv lacking clip_benchmark/open_clip, it says so and exits 0.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BATCH = 128
SHARD_SIZE = 200  # samples per tar
KS = (1, 5, 10)
VOCAB = 49408
CHECK_IMAGES = 32  # images and texts the embedding check compares
# The CLI of CLIP_benchmark (its console script), after registering our model config.
CB_MAIN = ("import sys, open_clip; open_clip.add_model_config(sys.argv.pop(1)); "
           "from clip_benchmark.cli import main; sys.argv[0] = 'clip_benchmark'; sys.exit(main())")
TASKS = {"zero-shot": ("zs", "zeroshot_classification"), "retrieval": ("ret", "zeroshot_retrieval")}


# -- both environments ---------------------------------------------------------------------

def shard_samples(root: Path) -> list[tuple[str, dict[str, bytes]]]:
    """(key, {ext: bytes}) of every sample of root/test/{0..n-1}.tar, in shard order."""
    count = int((root / "test" / "nshards.txt").read_text())
    out: list[tuple[str, dict[str, bytes]]] = []
    for i in range(count):
        with tarfile.open(root / "test" / f"{i}.tar") as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                handle = tar.extractfile(member)
                assert handle is not None
                if not out or out[-1][0] != key:
                    out.append((key, {}))
                out[-1][1][ext] = handle.read()
    return out


# -- CLIP_benchmark's venv (no mmbench there) ---------------------------------------------------

def _open_clip(config: str, name: str, ckpt: str, threads: int) -> tuple[Any, Any, Any]:
    import open_clip
    import torch

    torch.set_num_threads(threads)
    open_clip.add_model_config(config)
    model, _, transform = open_clip.create_model_and_transforms(name, pretrained=ckpt)
    return model.eval(), transform, open_clip.get_tokenizer(name)


def _rgb(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:  # as webdataset's "pil" decoder does
        img.load()
        return img.convert("RGB")


def cb_bare(root: str, task: str, config: str, name: str, ckpt: str, threads: int) -> dict[str, Any]:
    """The loop a CLIP_benchmark user would write: open_clip, the tars read with tarfile,
    open_clip's own transform and tokenizer, the harness's forward passes (class prompts one
    class at a time, images and their captions 128 images at a time)."""
    import torch
    import torch.nn.functional as F

    model, transform, tokenizer = _open_clip(config, name, ckpt, threads)
    samples = shard_samples(Path(root))
    image_parts, text_parts = [], []
    with torch.no_grad():
        if task == "zero-shot":
            classes = (Path(root) / "classnames.txt").read_text().splitlines()
            templates = (Path(root) / "zeroshot_classification_templates.txt").read_text().splitlines()
            weights = []
            for c in classes:
                emb = F.normalize(model.encode_text(tokenizer([t.format(c=c) for t in templates])), dim=-1).mean(dim=0)
                weights.append(emb / emb.norm())
            classifier = torch.stack(weights, dim=1)
        for start in range(0, len(samples), BATCH):
            part = samples[start:start + BATCH]
            images = torch.stack([transform(_rgb(s["png"])) for _, s in part])
            image_parts.append(F.normalize(model.encode_image(images), dim=-1))
            if task == "retrieval":
                texts = [t for _, s in part for t in s["txt"].decode().splitlines()]
                text_parts.append(F.normalize(model.encode_text(tokenizer(texts)), dim=-1))
    image_emb = torch.cat(image_parts)
    if task == "zero-shot":
        labels = torch.tensor([int(s["cls"]) for _, s in samples])
        return {"n": len(samples), "acc1": float(((image_emb @ classifier).argmax(dim=1) == labels).float().mean())}
    scores = torch.cat(text_parts) @ image_emb.T  # one caption per image: text j belongs to image j
    own = torch.arange(len(samples))
    out: dict[str, Any] = {"n": len(samples)}
    for k in KS:
        out[f"t2i_r@{k}"] = float((scores.topk(k, dim=1).indices == own[:, None]).any(dim=1).float().mean())
        out[f"i2t_r@{k}"] = float((scores.T.topk(k, dim=1).indices == own[:, None]).any(dim=1).float().mean())
    return out


def cb_dump(out: str, cli_args: list[str]) -> None:
    """CLIP_benchmark's CLI with the arrays it computes captured (zero-shot logits and
    targets; the retrieval score matrix and its per-query top-k hits), saved to `out`."""
    import numpy as np
    import open_clip
    import torch
    from clip_benchmark import cli
    from clip_benchmark.metrics import zeroshot_classification as zc
    from clip_benchmark.metrics import zeroshot_retrieval as zr

    open_clip.add_model_config(cli_args.pop(0))
    captured: dict[str, Any] = {}
    run_classification, batchify = zc.run_classification, zr.batchify

    def classification(*args: Any, **kwargs: Any) -> Any:
        logits, target = run_classification(*args, **kwargs)
        captured.update(logits=logits.numpy(), target=np.asarray(target))
        return logits, target

    def batched(func: Any, x: Any, y: Any, batch_size: int, device: Any, *args: Any, **kwargs: Any) -> Any:
        result = batchify(func, x, y, batch_size, device, *args, **kwargs)
        # CLIP_benchmark calls it twice per k: scores (texts x images) first, then scores.T.
        direction = "t2i" if f"t2i_hit@{kwargs['k']}" not in captured else "i2t"
        if direction == "t2i" and "scores" not in captured:
            captured["scores"] = x.numpy()
        captured[f"{direction}_hit@{kwargs['k']}"] = (result > 0).numpy()
        return result

    zc.run_classification, zr.batchify = classification, batched
    sys.argv = ["clip_benchmark", *cli_args]
    with torch.no_grad():
        cli.main()
    np.savez(out, **captured)


def oc_check(config: str, name: str, ckpt: str, root: str, texts_file: str, probe_dir: str, out: str,
             threads: int) -> None:
    """open_clip's side of the equivalence checks: token ids of every text, pixels and
    embeddings of the first images, embeddings of some texts, pixels of the probe PNGs."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    model, transform, tokenizer = _open_clip(config, name, ckpt, threads)
    texts = json.loads(Path(texts_file).read_text())
    tokens = tokenizer(texts["all"])
    ids = [row[:int((row == VOCAB - 1).nonzero()[0]) + 1].tolist() for row in tokens]
    samples = shard_samples(Path(root))[:CHECK_IMAGES]
    pixels = torch.stack([transform(_rgb(s["png"])) for _, s in samples])
    probes = {p.name: transform(_rgb(p.read_bytes())).numpy() for p in sorted(Path(probe_dir).glob("*.png"))}
    with torch.no_grad():
        image_emb = F.normalize(model.encode_image(pixels), dim=-1)
        text_emb = F.normalize(model.encode_text(tokenizer(texts["check"])), dim=-1)
    Path(out + ".ids.json").write_text(json.dumps(ids))
    np.savez(out, pixels=pixels.numpy(), image_emb=image_emb.numpy(), text_emb=text_emb.numpy(),
             probe_names=np.array(list(probes)), **{f"probe_{k}": v for k, v in probes.items()})


# -- the main environment (mmbench, transformers) ----------------------------------------------

def venv_problem(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.is_file():
        return f"{python} does not exist"
    done = subprocess.run([str(python), "-c", "import clip_benchmark, open_clip, torchvision"],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else f"{python} cannot import clip_benchmark/open_clip/torchvision: " \
                                              f"{done.stderr.strip().splitlines()[-1:]}"


def write_shards(out: Path, work: Path, samples: list[dict[str, Any]], members: list[str],
                 extra: dict[str, str]) -> None:
    """root/test/{0..n-1}.tar (+ nshards.txt) and the root's text files; deterministic bytes.
    `out` is rebuilt from nothing, once checked to lie inside `work`."""
    from mmbench.paths import remove_tree

    remove_tree(out, work, "shard folder")
    (out / "test").mkdir(parents=True)
    shards = [samples[i:i + SHARD_SIZE] for i in range(0, len(samples), SHARD_SIZE)]
    for index, shard in enumerate(shards):
        with tarfile.open(out / "test" / f"{index}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            for sample in shard:
                for ext in ("png", *members):
                    info = tarfile.TarInfo(f"{sample['key']}.{ext}")
                    info.size, info.mtime, info.mode = len(sample[ext]), 0, 0o644
                    tar.addfile(info, io.BytesIO(sample[ext]))
    (out / "test" / "nshards.txt").write_text(str(len(shards)))
    for name, text in extra.items():
        (out / name).write_text(text)


def byte_alphabet() -> list[str]:
    """CLIP's (GPT-2's) printable stand-ins for the 256 byte values, in vocabulary order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
                 *range(ord("\u00ae"), ord("\u00ff") + 1)]
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]


def hf_clip_folder(root: Path, size: str, bpe: Path) -> Path:
    """`eval_batch.clip_folder`'s architecture (random weights, seed 0, quick_gelu) with
    CLIP's real BPE vocabulary, read from open_clip's `bpe_simple_vocab_16e6.txt.gz` the way
    open_clip's SimpleTokenizer reads it."""
    import gzip

    import transformers
    from eval_batch import save_clip

    folder = root / f"hf-{size}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(bpe) as handle:
        merges = handle.read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    byte_chars = byte_alphabet()
    vocab = [*byte_chars, *(c + "</w>" for c in byte_chars), *("".join(m.split()) for m in merges),
             "<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == VOCAB
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                           model_max_length=77)
    ids = {"bos_token_id": VOCAB - 2, "eos_token_id": VOCAB - 1, "pad_token_id": VOCAB - 1}
    save_clip(folder, size, tokenizer, VOCAB, ids, hidden_act="quick_gelu")  # open_clip's OpenAI models use it
    return folder


def to_open_clip(folder: Path, out: Path, name: str) -> tuple[Path, Path]:
    """The HF weights as an open_clip state dict (`ckpt.pt`) and its model config JSON."""
    import torch
    from safetensors.torch import load_file

    cfg = json.loads((folder / "config.json").read_text())
    text, vision = cfg["text_config"], cfg["vision_config"]
    hf = load_file(str(folder / "model.safetensors"))
    sd: dict[str, Any] = {"logit_scale": hf["logit_scale"].clone()}

    def blocks(src: str, dst: str, layers: int) -> None:
        for i in range(layers):
            s, d = f"{src}.encoder.layers.{i}.", f"{dst}transformer.resblocks.{i}."
            for part in ("weight", "bias"):
                sd[d + f"attn.in_proj_{part}"] = torch.cat([hf[s + f"self_attn.{p}_proj.{part}"] for p in "qkv"])
                sd[d + f"attn.out_proj.{part}"] = hf[s + f"self_attn.out_proj.{part}"]
                sd[d + f"ln_1.{part}"] = hf[s + f"layer_norm1.{part}"]
                sd[d + f"ln_2.{part}"] = hf[s + f"layer_norm2.{part}"]
                sd[d + f"mlp.c_fc.{part}"] = hf[s + f"mlp.fc1.{part}"]
                sd[d + f"mlp.c_proj.{part}"] = hf[s + f"mlp.fc2.{part}"]

    sd["visual.class_embedding"] = hf["vision_model.embeddings.class_embedding"]
    sd["visual.conv1.weight"] = hf["vision_model.embeddings.patch_embedding.weight"]
    sd["visual.positional_embedding"] = hf["vision_model.embeddings.position_embedding.weight"]
    for part in ("weight", "bias"):
        sd[f"visual.ln_pre.{part}"] = hf[f"vision_model.pre_layrnorm.{part}"]
        sd[f"visual.ln_post.{part}"] = hf[f"vision_model.post_layernorm.{part}"]
        sd[f"ln_final.{part}"] = hf[f"text_model.final_layer_norm.{part}"]
    sd["visual.proj"] = hf["visual_projection.weight"].T.contiguous()
    blocks("vision_model", "visual.", vision["num_hidden_layers"])
    sd["token_embedding.weight"] = hf["text_model.embeddings.token_embedding.weight"]
    sd["positional_embedding"] = hf["text_model.embeddings.position_embedding.weight"]
    sd["text_projection"] = hf["text_projection.weight"].T.contiguous()
    blocks("text_model", "", text["num_hidden_layers"])
    ckpt = out / f"{name}.pt"
    torch.save(sd, ckpt)
    config = {"embed_dim": cfg["projection_dim"], "quick_gelu": True,
              "vision_cfg": {"image_size": vision["image_size"], "patch_size": vision["patch_size"],
                             "width": vision["hidden_size"], "layers": vision["num_hidden_layers"],
                             "head_width": vision["hidden_size"] // vision["num_attention_heads"],
                             "mlp_ratio": vision["intermediate_size"] / vision["hidden_size"]},
              "text_cfg": {"context_length": text["max_position_embeddings"], "vocab_size": text["vocab_size"],
                           "width": text["hidden_size"], "heads": text["num_attention_heads"],
                           "layers": text["num_hidden_layers"],
                           "mlp_ratio": text["intermediate_size"] / text["hidden_size"]}}
    config_path = out / f"{name}.json"  # open_clip names the model after the file
    config_path.write_text(json.dumps(config, indent=1))
    return ckpt, config_path


def probe_images(first_png: bytes, out: Path) -> Path:
    """PNGs of other sizes (resize and crop then do work) for the preprocessing check."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    with Image.open(io.BytesIO(first_png)) as img:
        base = img.convert("RGBA")
        for w, h in ((96, 96), (120, 100), (100, 131), (97, 96), (200, 150), (64, 80)):
            base.resize((w, h), Image.Resampling.BICUBIC).save(out / f"{w}x{h}.png")
    return out


def check_equivalence(venv_python: str, folder: Path, cfg: Path, name: str, ckpt: Path, root_zs: Path,
                      root_ret: Path, work: Path, threads: int) -> dict[str, Any]:
    """Token ids, pixels and embeddings: mmbench's hf-clip against the open_clip conversion."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from mmbench.loader import Batch
    from mmbench.models import create

    classes = (root_zs / "classnames.txt").read_text().splitlines()
    templates = (root_zs / "zeroshot_classification_templates.txt").read_text().splitlines()
    samples = shard_samples(root_ret)
    prompt_texts = [t.format(c=c) for c in classes for t in templates]
    captions = [t for _, s in samples for t in s["txt"].decode().splitlines()]
    odd = [c for c in captions if not c.isascii()]
    texts = {"all": prompt_texts + captions, "check": (prompt_texts[:16] + captions[:8] + odd)[:CHECK_IMAGES + 8]}
    texts_file = work / f"texts-{name}.json"
    texts_file.write_text(json.dumps(texts))
    probes = probe_images(samples[0][1]["png"], work / "probes")
    out = work / f"oc-check-{name}.npz"
    subprocess.run([venv_python, __file__, "--threads", str(threads), "--oc-check", str(cfg), name, str(ckpt),
                    str(root_ret), str(texts_file), str(probes), str(out)], check=True, env=_env(threads))
    oc = np.load(out)
    oc_ids = json.loads(Path(str(out) + ".ids.json").read_text())
    hf_ids = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(texts["all"])["input_ids"]
    id_mismatch = [(t, a, b) for t, a, b in zip(texts["all"], oc_ids, hf_ids, strict=True) if a != b]

    model = create("hf-clip", path=str(folder))
    prep = model.preprocess
    mean, std = prep.mean[:, None, None], prep.std[:, None, None]
    mm_pixels = np.stack([(model.decode_image(s["png"]) - mean) / std for _, s in samples[:CHECK_IMAGES]])
    probe_diff = {}
    for probe in sorted(probes.glob("*.png")):
        mine = (model.decode_image(probe.read_bytes()) - mean) / std
        theirs = oc[f"probe_{probe.name}"]
        probe_diff[probe.stem] = float(np.abs(mine - theirs).max()) if mine.shape == theirs.shape else \
            f"shapes {mine.shape} vs {theirs.shape}"
    raw = torch.from_numpy(np.stack([model.decode_image(s["png"]) for _, s in samples[:CHECK_IMAGES]]))
    mm_image = model.embed_images(Batch(ids=[], images=raw, texts=[], labels=None))
    mm_text = model.embed_texts(texts["check"])
    with torch.no_grad():  # the HF model on open_clip's own pixels: the weights alone
        hf = model._model
        same_pixels = torch.nn.functional.normalize(
            hf.visual_projection(hf.vision_model(pixel_values=torch.from_numpy(oc["pixels"])).pooler_output), dim=-1)
    return {"texts": len(texts["all"]), "non_ascii_captions": odd,
            "token_id_mismatches": [{"text": t, "open_clip": a, "hf": b} for t, a, b in id_mismatch],
            "pixels_max_abs_diff": float(np.abs(mm_pixels - oc["pixels"]).max()),
            "probe_pixels_max_abs_diff": probe_diff,
            "image_emb_max_abs_diff": float(np.abs(mm_image - oc["image_emb"]).max()),
            "image_emb_same_pixels_max_abs_diff": float(np.abs(same_pixels.numpy() - oc["image_emb"]).max()),
            "text_emb_max_abs_diff": float(np.abs(mm_text - oc["text_emb"]).max())}


def _env(threads: int) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": str(threads),
            "TOKENIZERS_PARALLELISM": "false"}


def mm_results(store: Path) -> tuple[dict[str, float], Any]:
    """The one record's metric values and its predictions table, from an mmbench store."""
    import pyarrow.parquet as pq

    records = list((store / "records").glob("*.json"))
    clean = [r for r in records if json.loads(r.read_text()).get("view", "clean") == "clean"]
    assert len(clean) == 1, f"{store}: {len(clean)} clean records"
    record = json.loads(clean[0].read_text())
    metrics = {k: v["value"] for k, v in record["metrics"].items()}
    metrics["_templates_from"] = record["model_info"].get("fit", {}).get("templates_from")
    return metrics, pq.read_table(store / "predictions" / f"{record['key']}.parquet")


def compare_zero_shot(cb_json: dict[str, Any], dump: Any, mm: dict[str, float], table: Any, keys: list[str]
                      ) -> dict[str, Any]:
    import numpy as np

    ids = [i.rsplit("#", 1)[1] for i in table.column("id").to_pylist()]
    assert ids == keys, "mmbench's rows are not in shard order"
    labels = np.asarray(table.column("label").to_numpy())
    scores = np.asarray(table.column("scores").to_pylist())
    mm_pred = np.asarray(table.column("prediction").to_numpy())
    logits, target = dump["logits"], dump["target"]
    assert (target == labels).all(), "labels differ"
    cb_pred = logits.argmax(axis=1)
    present = np.unique(labels)
    mm_top5 = (np.argsort(-scores, axis=1, kind="stable")[:, :5] == labels[:, None]).any(axis=1).mean()
    differ = np.nonzero(cb_pred != mm_pred)[0]
    top2 = np.sort(logits / 100, axis=1)[:, -2:]
    return {
        "CLIP_benchmark": {k: cb_json["metrics"][k] for k in ("acc1", "acc5", "mean_per_class_recall")},
        "mmbench": {"acc1": mm["accuracy"], "acc5 (from its stored scores)": float(mm_top5),
                    "mean_per_class_recall (from its stored predictions)":
                        float(np.mean([(mm_pred[labels == c] == c).mean() for c in present])),
                    "templates_from": mm["_templates_from"]},
        "score_max_abs_diff (cosine)": float(np.abs(logits / 100 - scores).max()),
        "predictions_differ": [{"key": keys[i], "label": int(labels[i]), "cb": int(cb_pred[i]), "mm": int(mm_pred[i]),
                                "cb_top2_gap": float(top2[i, 1] - top2[i, 0])} for i in differ],
        "n": len(labels)}


def compare_retrieval(cb_json: dict[str, Any], dump: Any, mm: dict[str, float], table: Any, keys: list[str]
                      ) -> dict[str, Any]:
    import numpy as np

    from mmbench.metrics.retrieval import i2t_ranks, t2i_ranks

    ids = [i.rsplit("#", 1)[1] for i in table.column("id").to_pylist()]
    assert ids == keys, "mmbench's rows are not in shard order"
    mm_i2t = np.asarray(table.column("i2t_rank").to_pylist(), dtype=np.float64)
    mm_t2i = np.asarray([r[0] for r in table.column("t2i_ranks").to_pylist()], dtype=np.float64)
    sim = dump["scores"].T.astype(np.float64)  # images x texts, CLIP_benchmark's own similarities
    owner = np.arange(sim.shape[0])
    ranks = {(d, ties): f(sim, owner, ties) for d, f in (("i2t", i2t_ranks), ("t2i", t2i_ranks))
             for ties in ("optimistic", "pessimistic")}
    out: dict[str, Any] = {"n": len(keys), "CLIP_benchmark": {}, "mmbench (ties: optimistic)": {},
                           "mmbench's ranks on CLIP_benchmark's scores, optimistic": {},
                           "... pessimistic": {}, "per-query disagreements": {}}
    cb_name = {"i2t": "text_retrieval_recall@{}", "t2i": "image_retrieval_recall@{}"}
    for d, mine in (("i2t", mm_i2t), ("t2i", mm_t2i)):
        tied = np.nonzero(ranks[(d, "optimistic")] != ranks[(d, "pessimistic")])[0]
        out[f"{d}_queries_with_exact_ties_at_own_score"] = [keys[i] for i in tied]
        for k in KS:
            out["CLIP_benchmark"][f"{d}_R@{k}"] = cb_json["metrics"][cb_name[d].format(k)]
            out["mmbench (ties: optimistic)"][f"{d}_R@{k}"] = mm[f"{d}_recall@{k}"]
            for ties, label in (("optimistic", "mmbench's ranks on CLIP_benchmark's scores, optimistic"),
                                ("pessimistic", "... pessimistic")):
                out[label][f"{d}_R@{k}"] = float((ranks[(d, ties)] <= k).mean())
            hit = dump[f"{d}_hit@{k}"].astype(bool)
            differ = np.nonzero(hit != (mine <= k))[0]
            out["per-query disagreements"][f"{d}@{k}"] = [
                {"key": keys[i], "cb_hit": bool(hit[i]), "mm_rank": float(mine[i]),
                 "rank_on_cb_scores": [float(ranks[(d, "optimistic")][i]), float(ranks[(d, "pessimistic")][i])],
                 "tie": bool(i in tied)} for i in differ]
        out[f"{d}_mm_rank_vs_cb_scores_optimistic_rank_differs"] = int((mine != ranks[(d, "optimistic")]).sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", help="the venv holding clip-benchmark (without it: skipped)")
    parser.add_argument("--images", type=int, default=0, help="emoji to build the corpus from (0: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="tiny,vit-s32")
    parser.add_argument("--tasks", default="zero-shot,retrieval")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "mmbench-bench-vs-cb"))
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--cb-bare", nargs=5, metavar=("ROOT", "TASK", "CFG", "NAME", "CKPT"), help=argparse.SUPPRESS)
    parser.add_argument("--cb-dump", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--oc-check", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cb_bare:
        root, task, config, name, ckpt = args.cb_bare
        print(json.dumps(cb_bare(root, task, config, name, ckpt, threads=args.threads)))
        return
    if args.cb_dump:
        cb_dump(args.cb_dump[0], args.cb_dump[1:])
        return
    if args.oc_check:
        config, name, ckpt, root, texts_file, probe_dir, out = args.oc_check
        oc_check(config, name, ckpt, root, texts_file, probe_dir, out, threads=args.threads)
        return
    if not args.venv:
        print("vs_clip_benchmark: skipped (no --venv PATH with clip-benchmark given)")
        return
    problem = venv_problem(Path(args.venv))
    if problem:
        print(f"vs_clip_benchmark: skipped ({problem})")
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from evaluate_overhead import byte_compile_mmbench, measured

    from mmbench.paths import remove_file, remove_tree

    byte_compile_mmbench()

    venv_python = str(Path(args.venv) / "bin" / "python")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    home = work / f"home-{args.images}"
    env = {**_env(args.threads), "MMBENCH_HOME": str(home)}
    os.environ.update(env)
    from mmbench import data
    from mmbench.adapters import ADAPTERS
    from mmbench.prompts import TEMPLATE_SETS, prompts

    # -- data ---------------------------------------------------------------------------
    options = {"limit": args.images, "size": 96}
    if not data.exists("openmoji") or data.info("openmoji").options != ADAPTERS.get("openmoji")(**options).options():
        data.build(ADAPTERS.get("openmoji")(**options), workers=os.cpu_count() or 1)
    info = data.info("openmoji")
    classes = list(info.class_names or [])
    assert all(" ".join(c.replace("_", " ").split()) == c for c in classes), "class names mmbench would rewrite"
    rows = data.load("openmoji")["test"].to_table(["images", "label", "captions"]).to_pylist()
    samples = [{"key": f"s{i:06d}", "png": r["images"][0]["bytes"], "cls": str(r["label"]).encode(),
                "txt": "\n".join(r["captions"]).encode()} for i, r in enumerate(rows)]
    keys = [s["key"] for s in samples]
    templates = [t.replace("{}", "{c}") for t in TEMPLATE_SETS["default"]]
    root_zs, root_ret = work / f"wds-{args.images}" / "moji_zs", work / f"wds-{args.images}" / "moji_ret"
    write_shards(root_zs, work, samples, ["cls"], {"classnames.txt": "\n".join(classes) + "\n",
                                             "zeroshot_classification_templates.txt": "\n".join(templates) + "\n"})
    write_shards(root_ret, work, samples, ["txt"], {"dataset_type.txt": "retrieval\n"})
    ingest_s = {}
    for name, root in (("moji-zs", root_zs), ("moji-ret", root_ret)):
        report = data.build(ADAPTERS.get("webdataset")(), root, name=name, workers=2)
        assert report.rejected == 0, f"{name}: {report.rejected} rows rejected"
        ingest_s[name] = round(report.seconds, 2)
        built = data.load(name)["test"].to_table()
        got = [(i.rsplit("#", 1)[1], im[0]["bytes"]) for i, im in zip(built.column("id").to_pylist(),
                                                                        built.column("images").to_pylist(),
                                                                        strict=True)]
        assert got == [(s["key"], s["png"]) for s in samples], f"{name}: ingested rows differ from the shards"
    print(f"{len(samples)} test images, {len(classes)} classes, {len(templates)} templates; "
          f"{int((root_zs / 'test' / 'nshards.txt').read_text())} shards per set; ingest {ingest_s}", flush=True)
    prompts_file = work / "prompts.json"  # evaluate_overhead's bare loop: the prompts mmbench builds
    prompts_file.write_text(json.dumps([list(prompts(c, tuple(templates))) for c in classes]))
    bare_homes = {}
    for task, name in (("zero-shot", "moji-zs"), ("retrieval", "moji-ret")):
        bare_home = work / f"barehome-{args.images}-{TASKS[task][0]}"  # the bare loop reads datasets/openmoji
        (bare_home / "datasets").mkdir(parents=True, exist_ok=True)
        link = bare_home / "datasets" / "openmoji"
        remove_tree(link, work, "bare loop's dataset link")  # a link: unlinked, its target untouched
        link.symlink_to(home / "datasets" / name)
        bare_homes[task] = bare_home

    baseline = {}  # what merely importing the stack costs in each environment (fresh processes, medians)
    for label, python, code in (("main: import torch", sys.executable, "import torch"),
                                ("main: import torch, transformers", sys.executable, "import torch, transformers"),
                                ("venv: import torch", venv_python, "import torch"),
                                ("venv: import torch, open_clip", venv_python, "import torch, open_clip")):
        taken = [measured([python, "-c", code], env) for _ in range(args.repeat)]
        baseline[label] = {"s": round(statistics.median(t for t, _ in taken), 2),
                           "mb": round(statistics.median(m for _, m in taken), 1)}
    print(f"baseline imports: {json.dumps(baseline)}", flush=True)
    bpe = subprocess.run([venv_python, "-c", "import open_clip.tokenizer as t; print(t.default_bpe())"],
                         capture_output=True, text=True, check=True).stdout.strip()
    results: dict[str, Any] = {"n": len(samples), "classes": classes, "templates": templates, "ingest_s": ingest_s,
                               "baseline_imports": baseline,
                               "equivalence": {}, "correctness": {}, "overhead": []}
    for size in args.sizes.split(","):
        folder = hf_clip_folder(work, size, Path(bpe))
        name = f"mmb-{size}"
        ckpt, cfg = to_open_clip(folder, work, name)
        check = check_equivalence(venv_python, folder, cfg, name, ckpt, root_zs, root_ret, work, args.threads)
        results["equivalence"][size] = check
        print(f"{size}: equivalence {json.dumps(check)}", flush=True)
        for task in args.tasks.split(","):
            short, cb_task = TASKS[task]
            root = root_zs if task == "zero-shot" else root_ret
            suite = work / f"suite-{size}-{short}.yaml"
            entry: dict[str, Any] = {"name": f"moji-{short}", "tasks": [task]}
            if task == "retrieval":
                entry["task_options"] = {"retrieval": {"ties": "optimistic"}}
            suite.write_text(json.dumps({"name": "vs-cb", "seeds": 1, "datasets": [entry],
                                         "models": [{"name": "hf-clip", "config": {"path": str(folder)}}]}))
            cb_args = ["eval", "--dataset", f"wds/moji_{short}", "--dataset_root", str(root), "--model", name,
                       "--pretrained", str(ckpt), "--task", cb_task, "--batch_size", str(BATCH), "--num_workers", "0",
                       "--no_amp", "--recall_k", *map(str, KS), "--quiet"]
            runs: dict[str, list[tuple[float, float]]] = {"cb": [], "cb_bare": [], "mm": [], "mm_bare": []}
            outputs: dict[str, list[Any]] = {"cb": [], "mm": []}
            for attempt in range(args.repeat):
                store, cb_out = work / f"store-{size}-{short}-{attempt}", work / f"cb-{size}-{short}-{attempt}.json"
                remove_tree(store, work, "benchmark store")  # a fresh store: the run does the work
                remove_file(cb_out, work, "CLIP_benchmark output")
                commands = {
                    "cb": [venv_python, "-c", CB_MAIN, str(cfg), *cb_args, "--output", str(cb_out)],
                    "cb_bare": [venv_python, __file__, "--threads", str(args.threads), "--cb-bare", str(root), task,
                                str(cfg), name, str(ckpt)],
                    "mm": [sys.executable, "-m", "mmbench.cli", "run", "--suite", str(suite), "--store", str(store),
                           "--no-leaderboard", "--quiet", "--threads", str(args.threads),
                           "--eval-batch-size", str(BATCH)],
                    "mm_bare": [sys.executable, str(HERE / "evaluate_overhead.py"), "--threads", str(args.threads),
                                "--bare", str(folder), str(bare_homes[task]), task, str(prompts_file)],
                }
                # Interleaved, the order reversed every other repeat: a command run right after
                # the other environment's finds its own libraries less often in the page cache
                # (CLIP_benchmark's venv holds torch's CUDA build), and a fixed order would put
                # that cost on each harness and never on its bare loop.
                order = list(commands) if attempt % 2 == 0 else list(reversed(commands))
                for kind in order:
                    runs[kind].append(measured(commands[kind], env))
                outputs["cb"].append(json.loads(cb_out.read_text()))
                outputs["mm"].append(mm_results(store))
            cb_metrics = [o["metrics"] for o in outputs["cb"]]
            mm_metrics = [{k: v for k, v in m.items() if not k.startswith("_")} for m, _ in outputs["mm"]]
            stable = {"cb": all(m == cb_metrics[0] for m in cb_metrics),
                      "mm": all(m == mm_metrics[0] for m in mm_metrics)}
            wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
            peak = {k: statistics.median(p for _, p in v) for k, v in runs.items()}
            row = {"size": size, "task": task, **{f"{k}_s": round(v, 2) for k, v in wall.items()},
                   **{f"{k}_mb": round(v, 1) for k, v in peak.items()},
                   "cb_wall_ratio": round(wall["cb"] / wall["cb_bare"], 3),
                   "mm_wall_ratio": round(wall["mm"] / wall["mm_bare"], 3),
                   "cb_mem_ratio": round(peak["cb"] / peak["cb_bare"], 3),
                   "mm_mem_ratio": round(peak["mm"] / peak["mm_bare"], 3),
                   "runs": runs, "repeats_identical": stable}
            results["overhead"].append(row)
            print(f"{size:>8} {task:>10}: CLIP_benchmark {wall['cb']:6.2f} s / bare {wall['cb_bare']:6.2f} s = "
                  f"{row['cb_wall_ratio']:5.3f}, {peak['cb']:6.0f} / {peak['cb_bare']:6.0f} MB = "
                  f"{row['cb_mem_ratio']:5.3f}"
                  f" | mmbench {wall['mm']:6.2f} s / bare {wall['mm_bare']:6.2f} s = {row['mm_wall_ratio']:5.3f}, "
                  f"{peak['mm']:6.0f} / {peak['mm_bare']:6.0f} MB = {row['mm_mem_ratio']:5.3f}", flush=True)

            dump_file = work / f"cb-dump-{size}-{short}.npz"  # the CLI again, its arrays captured
            subprocess.run([venv_python, __file__, "--cb-dump", str(dump_file), str(cfg), *cb_args,
                            "--output", str(work / f"cb-dump-{size}-{short}.json")], check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            dump = np.load(dump_file)
            compare = compare_zero_shot if task == "zero-shot" else compare_retrieval
            mm_metrics_0, mm_table_0 = outputs["mm"][0]
            verdict = compare(outputs["cb"][0], dump, mm_metrics_0, mm_table_0, keys)
            verdict["repeats_identical"] = stable
            results["correctness"][f"{size} {task}"] = verdict
            print(f"{size:>8} {task:>10}: {json.dumps(verdict)}", flush=True)

    print("\n| model | task | CLIP_benchmark s | its bare s | wall ratio | MB | bare MB | memory ratio "
          "| mmbench s | its bare s | wall ratio | MB | bare MB | memory ratio |")
    print("|---|---|" + "---:|" * 12)
    for r in results["overhead"]:
        print(f"| {r['size']} | {r['task']} | {r['cb_s']:.2f} | {r['cb_bare_s']:.2f} | {r['cb_wall_ratio']:.3f} | "
              f"{r['cb_mb']:.0f} | {r['cb_bare_mb']:.0f} | {r['cb_mem_ratio']:.3f} | {r['mm_s']:.2f} | "
              f"{r['mm_bare_s']:.2f} | {r['mm_wall_ratio']:.3f} | {r['mm_mb']:.0f} | {r['mm_bare_mb']:.0f} | "
              f"{r['mm_mem_ratio']:.3f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
