"""`hf-clip`: a Hugging Face `transformers` CLIPModel read from a local folder.

Needs the extra: `pip install 'mmbench[clip]'`. `path` is a folder written by
`save_pretrained` holding the model, its tokenizer and `preprocessor_config.json`;
nothing is fetched from the hub (`local_files_only`). Images are prepared the way
CLIP's processor prepares them, without torchvision: the shorter side resized to
`size` (PIL, the config's resampling filter), a centre crop of `crop_size`, scaling to
[0, 1], then the config's mean/std normalisation. The model is loaded on first use,
so constructing the wrapper is cheap.

Device: the `device` config key is where the model runs when it is used directly (the
Python API). `use_device(device)`, which the runner calls with the run's `--device`,
overrides it for this instance and leaves `config()` (and its hash) unchanged: one run,
one device, and the record says which one ran. The key stays in the config so existing
hashes hold; it does not pin the model against `--device`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mmbench.loader import Batch
from mmbench.models import register_model

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = 3


def _side(value: Any, default: int) -> tuple[int, int] | int:
    """A processor `size`: an int (shorter side), {"shortest_edge"} or {"height", "width"}."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    if "shortest_edge" in value:
        return int(value["shortest_edge"])
    return int(value["height"]), int(value["width"])


def clip_text(text: str) -> str:
    """A text cleaned as CLIP's own tokenizer cleans it before its BPE (OpenAI's and
    open_clip's alike): ftfy's fixes (curly quotes straightened, mojibake repaired), HTML
    entities unescaped twice, each run of whitespace one space. transformers' fast CLIP
    tokenizer skips this: `Japanese “vacancy” button` got other token ids than in
    CLIP_benchmark (benchmarks/perf/RESULTS.md)."""
    import html
    import re

    try:
        import ftfy
    except ImportError:
        raise ImportError("hf-clip cleans texts with ftfy, as CLIP's tokenizer does: "
                          "pip install 'mmbench[clip]'") from None
    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return re.sub(r"\s+", " ", text).strip()


class Preprocess:
    """CLIP image preparation from a `preprocessor_config.json` payload."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.do_resize = bool(cfg.get("do_resize", True))
        self.do_crop = bool(cfg.get("do_center_crop", True))
        self.size = _side(cfg.get("size"), 224)
        crop = _side(cfg.get("crop_size"), 224)
        self.crop = (crop, crop) if isinstance(crop, int) else crop
        self.resample = int(cfg.get("resample", BICUBIC))
        self.scale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0
        normalise = cfg.get("do_normalize", True)
        self.mean = np.array(cfg.get("image_mean", OPENAI_MEAN) if normalise else (0, 0, 0), dtype=np.float32)
        self.std = np.array(cfg.get("image_std", OPENAI_STD) if normalise else (1, 1, 1), dtype=np.float32)

    def _resized(self, image: Any) -> Any:
        from PIL import Image

        if not self.do_resize:
            return image
        if isinstance(self.size, tuple):
            height, width = self.size
        else:  # shorter side to `size`, the longer scaled in proportion (floored, as HF does)
            w, h = image.size
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = self.size, int(self.size * long / short)
            width, height = (new_short, new_long) if w <= h else (new_long, new_short)
        return image.resize((width, height), resample=Image.Resampling(self.resample))

    def pixels(self, data: bytes | None) -> np.ndarray:
        """[3, H, W] float32 after resize, crop and scaling, before normalisation."""
        from PIL import Image

        if data is None:  # a record without an image: black, like the square loader
            return np.zeros((3, *self.crop), dtype=np.float32)
        with Image.open(io.BytesIO(data)) as img:
            array = np.asarray(self._resized(img.convert("RGB")))
        if self.do_crop:
            array = _centre_crop(array, *self.crop)
        return (array.astype(np.float32) * np.float32(self.scale)).transpose(2, 0, 1)


def _centre_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H, W, C] centre crop; an image smaller than the crop is padded with zeros around it."""
    h, w = array.shape[:2]
    if h < height or w < width:
        padded = np.zeros((max(h, height), max(w, width), array.shape[2]), dtype=array.dtype)
        top, left = (padded.shape[0] - h + 1) // 2, (padded.shape[1] - w + 1) // 2
        padded[top:top + h, left:left + w] = array
        array, h, w = padded, padded.shape[0], padded.shape[1]
    top, left = (h - height) // 2, (w - width) // 2
    return array[top:top + height, left:left + width]


@register_model("hf-clip")
class HFCLIP:
    """A pretrained CLIP as a dual encoder (embed_images / embed_texts); never trained here."""

    registry_name: ClassVar[str] = "hf-clip"
    uses_images: ClassVar[bool] = True

    def __init__(self, *, path: str, device: str = "cpu") -> None:
        self.path = str(path)
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._prep: Preprocess | None = None
        self._run_device: str | None = None  # set by use_device; wins over the `device` key

    def config(self) -> dict[str, Any]:
        return {"path": self.path, "device": self.device}

    @property
    def run_device(self) -> str:
        """The device the model runs on: use_device's, else the `device` config key."""
        return self._run_device if self._run_device is not None else self.device

    def use_device(self, device: str) -> None:
        self._run_device = device
        if self._model is not None:
            self._model.to(device)

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoTokenizer, CLIPModel
        except ImportError as err:
            raise ImportError(f"hf-clip needs its extra: pip install 'mmbench[clip]' ({err})") from err
        folder = self._folder()
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model: Any = CLIPModel.from_pretrained(str(folder), local_files_only=True)
        self._model = model.to(self.run_device).eval()

    def _folder(self) -> Path:
        folder = Path(self.path)
        if not folder.is_dir():
            raise FileNotFoundError(f"hf-clip: model folder {folder} does not exist")
        return folder

    @property
    def preprocess(self) -> Preprocess:
        if self._prep is None:  # only the JSON: the image size is known without loading weights
            prep = self._folder() / "preprocessor_config.json"
            self._prep = Preprocess(json.loads(prep.read_text()) if prep.is_file() else {})
        return self._prep

    @property
    def image_size(self) -> int:
        return self.preprocess.crop[0]

    def decode_image(self, data: bytes | None) -> np.ndarray:
        """The tasks' hook: the model decodes stored image bytes itself (see module doc)."""
        return self.preprocess.pixels(data)

    def embed_images(self, batch: Batch) -> np.ndarray:
        """Normalised embeddings of [B, 3, H, W] images in [0, 1] (a loader batch of another
        size is resized to the crop size, squashing its aspect ratio)."""
        import torch
        import torch.nn.functional as F

        self._load()
        prep = self.preprocess
        device = self.run_device
        images = batch.images.to(device)  # resize and normalise where the model runs
        if tuple(images.shape[-2:]) != prep.crop:
            images = F.interpolate(images, size=prep.crop, mode="bicubic", align_corners=False).clamp(0, 1)
        mean = torch.from_numpy(prep.mean)[None, :, None, None].to(device)
        std = torch.from_numpy(prep.std)[None, :, None, None].to(device)
        pixels = (images - mean) / std
        with torch.no_grad():
            pooled = self._model.vision_model(pixel_values=pixels).pooler_output
            feats = self._model.visual_projection(pooled)
        return F.normalize(feats.float(), dim=-1).cpu().numpy().astype(np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        self._load()
        limit = int(self._model.config.text_config.max_position_embeddings)
        tokens = self._tokenizer([clip_text(t) for t in texts], padding=True, truncation=True,
                                 max_length=min(limit, int(self._tokenizer.model_max_length)),
                                 return_tensors="pt").to(self.run_device)
        with torch.no_grad():
            pooled = self._model.text_model(input_ids=tokens["input_ids"],
                                            attention_mask=tokens["attention_mask"]).pooler_output
            feats = self._model.text_projection(pooled)
        return F.normalize(feats.float(), dim=-1).cpu().numpy().astype(np.float32)

    def logit_scale(self) -> float:
        self._load()
        return float(self._model.logit_scale.exp())

    def num_parameters(self) -> int:
        self._load()
        return int(sum(p.numel() for p in self._model.parameters()))
