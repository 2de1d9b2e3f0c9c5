"""Text regions: the PP-OCRv6 text *detection* network on onnxruntime, nothing read out.

Licence plates, house numbers, name badges, street signs and screens identify
people as surely as faces. :class:`TextDetector` finds where text is, as
axis-aligned boxes, so that region mode can release those pixels with DP. It
runs only the detection network of PaddleOCR's PP-OCRv6 (``PP-OCRv6_det_small
.onnx``, Apache-2.0, shipped in the ``rapidocr`` wheel, whose dependencies are
headless); no recognition model is loaded and no character is ever read.

The network is a DB (Differentiable Binarization, Liao et al. 2020) detector:
it predicts, per pixel, the probability that the pixel lies in a *shrunk*
text kernel. The post-processing here follows DB's reference procedure, with
RapidOCR's constants for this model, plus one shape rule:

1. resize so the short side is at least ``limit_side`` (and the long side at
   most ``max_side``), each side rounded to a multiple of 32 (the network's
   stride); BGR order, ``(x / 255 - 0.5) / 0.5``;
2. binarize the probability map at ``threshold`` and dilate it by 2×2;
3. for each contour, its minimum-area rectangle; drop those whose short side
   is under 3 map pixels or whose mean probability inside is under
   ``box_threshold``;
4. drop kernels whose long side is under ``min_aspect`` times their short
   side: a line of two or more glyphs is elongated, while the blobs the
   network mistakes for text (eyes, a whole face in a small photo, tail
   lights) are round (see ``benchmarks/README.md``);
5. *unclip*: grow the rectangle by ``d = area · unclip / perimeter`` on every
   side (the inverse of the shrink used in training, so the box covers the
   whole glyphs, not only their kernel). DB offsets the polygon with round
   joins; the minimum-area rectangle of that rounded shape is exactly the
   rectangle grown by ``d``, so no polygon library is needed;
6. map to image coordinates, take the axis-aligned bounding rectangle of the
   (possibly rotated) box, clip to the image.

Limits (measured in ``benchmarks/README.md``): small text (glyphs under ~8 px
tall in the network input), strongly blurred text, text at steep angles and
lone glyphs (step 4) are found less often. Every miss is released raw, so pair
``--text`` with a check of the output.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .detectors import MissingModelError

__all__ = ["INSTALL_HINT", "TEXT_INSTALL", "TextDetector", "text_model_path"]

MODEL_FILE = "PP-OCRv6_det_small.onnx"
#: The command that installs what ``--text`` needs (one line, as the CLI prints it):
#: the ``regions`` extra is ``rapidocr`` (the model) and ``onnxruntime`` (what runs it).
TEXT_INSTALL = "pip install 'dpimage[regions]' (or: pip install rapidocr onnxruntime)"
INSTALL_HINT = (
    "text regions need the PP-OCRv6 text detector (it ships in the rapidocr wheel) and "
    f"onnxruntime: {TEXT_INSTALL}"
)

# DB map geometry, as PaddleOCR's DBPostProcess: the smallest kept box side
# (in map pixels) before and after unclipping.
_MIN_SIDE = 3
_MAX_CANDIDATES = 1000


def text_model_path() -> str | None:
    """Path of ``PP-OCRv6_det_small.onnx`` in an installed ``rapidocr``, or None.

    The package is only used for this file: nothing of it is imported (its
    ``__init__`` loads its whole OCR pipeline and configuration).
    """
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE
    return str(path) if path.is_file() else None


def _load_session(model_path: str, threads: int | None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingModelError(INSTALL_HINT, source="text") from exc
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the model's unused-initializer warnings are noise
    # No busy-waiting between operators (costs CPU on shared cores, gains no wall time).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


def _network_size(height: int, width: int, limit_side: int, max_side: int) -> tuple[int, int]:
    """Network input ``(h, w)``: short side up to ``limit_side``, long side ≤ ``max_side``, ×32."""
    ratio = 1.0
    if min(height, width) < limit_side:
        ratio = limit_side / min(height, width)
    if max(height, width) * ratio > max_side:
        # Very elongated or large images: the long side bounds the cost.
        ratio = max_side / max(height, width)
    net_h = max(32, round(height * ratio / 32) * 32)
    net_w = max(32, round(width * ratio / 32) * 32)
    return net_h, net_w


class TextDetector:
    """Text regions with the PP-OCRv6 DB text-detection network (ONNX) on onnxruntime.

    Parameters
    ----------
    model_path : str or path-like, optional
        The ONNX file; by default ``PP-OCRv6_det_small.onnx`` from the
        installed ``rapidocr`` wheel. Any PaddleOCR DB detection model with
        the same input convention runs (PP-OCRv4's too).
    threshold : float
        Probability above which a map pixel is text (0.3, as PaddleOCR).
    box_threshold : float
        Smallest mean probability inside a candidate box (0.5, RapidOCR's
        value for this model). On the benchmark photos 0.5 finds 15 of 20
        annotated texts with no false box; 0.3 finds 17 with 3 false boxes and
        boxes over the cat's eyes and whole faces.
    min_aspect : float
        Smallest ratio of a kernel's long to short side (1.5; 1 keeps every
        shape). Lines of text are elongated; the false boxes measured (eyes,
        faces, tail lights) are not. Lone glyphs are dropped too.
    unclip : float
        DB's unclip ratio (1.6, as RapidOCR): how far a kernel box is grown.
    limit_side : int
        The image is scaled so its short side is at least this many pixels
        (736, as RapidOCR), which upsamples small images and their small text.
    max_side : int
        Upper bound of the long side of the network input (2000, as RapidOCR).
    threads : int, optional
        onnxruntime intra-op threads (default: onnxruntime's choice).

    Attributes
    ----------
    name : str
        What a manifest records as the detector (names the ONNX file when one is given).
    model_file : str
        File name of the network that runs.

    Raises
    ------
    MissingModelError
        (a ``RuntimeError``) if the model file or onnxruntime is missing,
        naming the install command.

    Notes
    -----
    The detector is not private: it looks at the raw image, and the boxes'
    number, positions and sizes are visible in a region-mode release. Text it
    misses is released raw. Its boxes are final: the unclip step already grows
    them over the whole glyphs, so region mode does not scale them again
    (``--mask-scale`` is for faces, people and user boxes).
    """

    name = "text: PP-OCRv6 det small ONNX (rapidocr wheel) via onnxruntime"
    #: Region mode scales face, people and user boxes by ``--mask-scale``, not these.
    mask_scaled = False

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        threshold: float = 0.3,
        box_threshold: float = 0.5,
        min_aspect: float = 1.5,
        unclip: float = 1.6,
        limit_side: int = 736,
        max_side: int = 2000,
        threads: int | None = None,
    ) -> None:
        for label, value in (("threshold", threshold), ("box_threshold", box_threshold)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {value}")
        if not min_aspect >= 1.0:
            raise ValueError(f"min_aspect must be >= 1, got {min_aspect}")
        if not unclip > 0:
            raise ValueError(f"unclip must be > 0, got {unclip}")
        if not 32 <= limit_side <= max_side:
            raise ValueError(f"need 32 <= limit_side <= max_side, got {limit_side}, {max_side}")
        path = text_model_path() if model_path is None else os.fspath(model_path)
        if path is None or not os.path.isfile(path):
            raise MissingModelError(f"{MODEL_FILE} not found; {INSTALL_HINT}", source="text")
        self.model_file = os.path.basename(path)
        if model_path is not None:
            # The manifest must name the network that ran, not the default one.
            self.name = f"text: {self.model_file} (DB text detection) via onnxruntime"
        if box_threshold != 0.5:
            self.name = f"{self.name}, box threshold {box_threshold}"
        self._session = _load_session(path, threads)
        self._input = self._session.get_inputs()[0].name
        self.threshold = threshold
        self.box_threshold = box_threshold
        self.min_aspect = min_aspect
        self.unclip = unclip
        self.limit_side = limit_side
        self.max_side = max_side

    def probability_map(self, image: np.ndarray) -> np.ndarray:
        """The network's text probability map, float32 of the network input's size."""
        image = _as_rgb(image)
        height, width = image.shape[:2]
        net_h, net_w = _network_size(height, width, self.limit_side, self.max_side)
        # The PaddleOCR models are trained on cv2.imread's BGR order.
        bgr = cv2.resize(image[..., ::-1], (net_w, net_h), interpolation=cv2.INTER_LINEAR)
        blob = (bgr.astype(np.float32) * np.float32(2 / 255) - np.float32(1.0))
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[None])
        return self._session.run(None, {self._input: blob})[0][0, 0]

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Axis-aligned boxes covering each text region found.

        Parameters
        ----------
        image : ndarray
            ``uint8`` RGB ``(H, W, 3)`` (or gray ``(H, W)``, RGBA ``(H, W, 4)``).

        Returns
        -------
        ndarray of int64, shape (N, 4)
            One ``(x, y, w, h)`` row per region, inside the image, ``w, h >= 1``.
        """
        boxes, _ = self.detect_scored(image)
        return boxes

    def detect_scored(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`detect`'s boxes and each box's score (mean text probability inside)."""
        image = _as_rgb(image)
        height, width = image.shape[:2]
        prob = self.probability_map(image)
        map_h, map_w = prob.shape
        mask = cv2.dilate((prob > self.threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = width / map_w, height / map_h
        rows, scores = [], []
        for contour in contours[:_MAX_CANDIDATES]:
            rect = cv2.minAreaRect(contour)
            (cx, cy), (rw, rh), angle = rect
            if min(rw, rh) < _MIN_SIDE:
                continue
            score = _mean_inside(prob, cv2.boxPoints(rect))
            if score < self.box_threshold:
                continue
            if max(rw, rh) < self.min_aspect * min(rw, rh):
                continue
            grow = rw * rh * self.unclip / (2 * (rw + rh))
            rw, rh = rw + 2 * grow, rh + 2 * grow
            if min(rw, rh) < _MIN_SIDE + 2:
                continue
            corners = cv2.boxPoints(((cx, cy), (rw, rh), angle))
            # Outward rounding: a box never covers less than the network's region.
            x0 = max(0, math.floor(corners[:, 0].min() * sx))
            y0 = max(0, math.floor(corners[:, 1].min() * sy))
            x1 = min(width, math.ceil(corners[:, 0].max() * sx))
            y1 = min(height, math.ceil(corners[:, 1].max() * sy))
            if x1 - x0 > _MIN_SIDE and y1 - y0 > _MIN_SIDE:
                rows.append((x0, y0, x1 - x0, y1 - y0))
                scores.append(score)
        return (np.asarray(rows, dtype=np.int64).reshape(-1, 4),
                np.asarray(scores, dtype=np.float64))

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)``, the convention of the other region detectors."""
        boxes = self.detect(image)
        return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in boxes]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"TextDetector needs a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[..., :3])
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"TextDetector needs a gray, RGB or RGBA image, got shape {image.shape}")


def _mean_inside(prob: np.ndarray, corners: np.ndarray) -> float:
    """Mean probability inside a polygon (DB's "fast" box score), on its bounding crop."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = (corners - np.array([x0, y0], dtype=np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])
