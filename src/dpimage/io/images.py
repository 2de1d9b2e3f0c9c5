"""Read images into uint8 arrays and write arrays back, with no metadata.

Reading normalises every supported file to what the mechanisms accept: an
upright ``uint8`` array of shape ``(H, W)`` (gray) or ``(H, W, 3)`` (RGB).
Each lossy or surprising step (alpha dropped, colour space converted, 16 bits
reduced to 8) is reported as a one-line notice. Writing builds a fresh image
from the array, so nothing from the input file (EXIF, GPS, ICC profile, XMP,
comments, thumbnails, text chunks) can reach the output.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ._errors import InputError, OutputError, OutputExistsError
from .atomic import atomic_writer
from .files import image_format

__all__ = ["read_image", "write_image"]

# Pillow's decompression-bomb limit is a module global; it is swapped only for
# the duration of one read, under this lock, and always restored.
_PIL_LIMIT_LOCK = threading.Lock()

_ALPHA_NOTICE = "alpha channel dropped (it can carry content and is not released)"
_CONVERTED_TO_RGB = frozenset({"CMYK", "YCbCr", "LAB", "HSV", "RGBX"})
_WITH_ALPHA = {"LA": "L", "La": "L", "RGBA": "RGB", "RGBa": "RGB", "PA": "RGB"}


def _limit_message(path: Path, pixels: int | None, limit: int) -> str:
    size = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    return (
        f"{path}: image has {size}, more than the limit of {limit:,} "
        f"(decompression-bomb guard); raise it with --max-pixels N "
        f"(max_pixels=N in Python) if you trust this file"
    )


def _palette_is_gray(im: Image.Image) -> bool:
    palette = im.getpalette("RGB")
    if not palette:
        return False
    triples = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    return bool(np.all(triples[:, 0] == triples[:, 1]) and np.all(triples[:, 1] == triples[:, 2]))


def _to_array(im: Image.Image, path: Path, notices: list[str]) -> np.ndarray:
    """Convert a loaded, upright Pillow image to a uint8 gray or RGB array."""
    mode = im.mode
    has_transparency = "transparency" in im.info
    if mode in ("L", "RGB"):
        if has_transparency:
            notices.append(f"{path}: transparency dropped (it is not released)")
        return np.array(im, dtype=np.uint8)
    if mode == "1":
        return np.array(im.convert("L"), dtype=np.uint8)
    if mode == "P":
        if has_transparency:
            notices.append(f"{path}: palette transparency dropped (it is not released)")
            im = im.convert("RGBA")
            mode = "RGBA"
        elif _palette_is_gray(im):
            notices.append(f"{path}: palette image with gray palette read as 8-bit gray")
            return np.array(im.convert("L"), dtype=np.uint8)
        else:
            notices.append(f"{path}: palette image converted to RGB")
            return np.array(im.convert("RGB"), dtype=np.uint8)
    if mode in _WITH_ALPHA:
        notices.append(f"{path}: {_ALPHA_NOTICE}")
        return np.array(im.convert(_WITH_ALPHA[mode]), dtype=np.uint8)
    if mode in _CONVERTED_TO_RGB:
        if mode != "RGBX":
            notices.append(f"{path}: converted from {mode} to RGB")
        return np.array(im.convert("RGB"), dtype=np.uint8)
    if mode.startswith("I;16"):
        data = np.array(im)
        if data.dtype.kind != "u" or data.dtype.itemsize != 2:
            raise InputError(f"{path}: unsupported 16-bit pixel type {mode}; convert to 8-bit")
        notices.append(f"{path}: 16-bit image reduced to 8 bits (low byte dropped)")
        return (data >> 8).astype(np.uint8)
    if mode == "I":
        raise InputError(
            f"{path}: 32-bit integer images (mode I) are not supported; convert to 8-bit first"
        )
    if mode == "F":
        raise InputError(
            f"{path}: floating-point images (mode F) are not supported; convert to 8-bit first"
        )
    raise InputError(f"{path}: unsupported image mode {mode}; convert to 8-bit gray or RGB")


def _has_16_bit_samples(im: Image.Image) -> bool:
    """True if the file stores 16 bits per sample that Pillow decodes to 8 (e.g. RGB;16B)."""
    for tile in im.tile or ():
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode and not im.mode.startswith("I;16"):
            return True
    return False


def _first_line(message: object) -> str:
    text = " ".join(str(message).split())
    return text.rstrip(".") if text else "warning"


def _check_limit(im: Image.Image, path: Path, limit: int | None) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: image is empty ({width}x{height} pixels)")
    if limit is not None and width * height > limit:
        raise InputError(_limit_message(path, width * height, limit))


def _frame_count(im: Image.Image) -> int:
    return int(getattr(im, "n_frames", 1) or 1)


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Read a still image as an upright uint8 gray or RGB array.

    Parameters
    ----------
    path : path-like
        Image file in any format Pillow can read.
    max_pixels : int, optional
        Largest accepted ``width * height``. Defaults to Pillow's
        ``Image.MAX_IMAGE_PIXELS`` (a decompression-bomb guard, about 89
        megapixels). Applies to this read only; Pillow's global is restored.

    Returns
    -------
    image : numpy.ndarray
        ``uint8`` array of shape ``(H, W)`` or ``(H, W, 3)``, rotated upright
        according to the EXIF orientation tag.
    notices : list of str
        One line for each conversion that changed or dropped data (alpha
        dropped, palette or CMYK converted, 16 bits reduced to 8, ...).

    Raises
    ------
    InputError
        With a one-line message naming the file, if it is missing, not an
        image, truncated or corrupt, animated or multi-page, empty, larger than
        ``max_pixels``, or stored as 32-bit integer or float pixels.

    Notes
    -----
    Mode policy: ``L`` stays gray, ``1`` becomes gray, ``RGB`` stays RGB;
    palette images become RGB (gray if the palette is gray); any alpha channel
    or transparency is dropped; CMYK, YCbCr, LAB and HSV become RGB; 16-bit
    samples keep their high byte. The primary image of an MPO file (a JPEG
    with extra preview or depth images, as phones write) is read and the extra
    images are ignored.
    """
    path = Path(path)
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    if not os.path.lexists(path):
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image file")

    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        limit = max_pixels if max_pixels is not None else saved
        try:
            with warnings.catch_warnings(record=True) as caught:
                # Pillow warns (UserWarning) about damaged EXIF and the like:
                # each becomes a one-line notice instead of raw stderr.
                warnings.simplefilter("always")
                # Past the limit Pillow only warns; make that an error too.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                pixels, notices = _read_locked(path, limit)
            warned = [
                f"{path}: {_first_line(w.message)} (ignored)"
                for w in caught
                if issubclass(w.category, UserWarning)
            ]
            notices += list(dict.fromkeys(warned))  # once each
            return pixels, notices
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(_limit_message(path, None, limit or 0)) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _read_locked(path: Path, limit: int | None) -> tuple[np.ndarray, list[str]]:
    """Body of :func:`read_image`; the caller holds the lock and restores Pillow's limit."""
    notices: list[str] = []
    try:
        # Open with Pillow's own check off, so that our check below reports
        # the real size; then arm Pillow's check for the decoding itself
        # (frames, tiles), where a file can claim more pixels than its header.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as im:
            _check_limit(im, path, limit)
            Image.MAX_IMAGE_PIXELS = limit
            frames = _frame_count(im)
            if frames > 1 and im.format == "MPO":
                notices.append(
                    f"{path}: MPO file; only the primary image is read "
                    f"({frames - 1} extra image(s) ignored)"
                )
            elif frames > 1:
                raise InputError(f"{path}: has {frames} frames; only still images are supported")
            sixteen = _has_16_bit_samples(im)
            im.load()
            upright = ImageOps.exif_transpose(im)
            pixels = _to_array(upright, path, notices)
            if sixteen and not upright.mode.startswith("I;16"):
                # Pillow itself reads 16-bit RGB(A) as 8-bit, keeping the high byte.
                notices.append(f"{path}: 16-bit image reduced to 8 bits (low byte dropped)")
            return pixels, notices
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except Image.UnidentifiedImageError:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes), not an image") from None
        raise InputError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        # Pillow reports truncated and corrupt data with assorted exception
        # types; keep one line of its explanation.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot decode image ({reason})") from None


def _check_array(array: np.ndarray) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise ValueError(f"image must be a NumPy array, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8, got {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    return np.ascontiguousarray(array)


def _is_protected(dest: Path, protect: Iterable[str | os.PathLike[str]]) -> bool:
    resolved = dest.resolve()
    exists = os.path.lexists(dest)
    for other in protect:
        other_path = Path(other)
        if other_path.resolve() == resolved:
            return True
        if exists and os.path.exists(other_path):
            try:
                if os.path.samefile(dest, other_path):
                    return True
            except OSError:
                continue
    return False


def make_parent(dest: str | os.PathLike[str]) -> None:
    """Create the directory of output ``dest``, explaining clearly when a file is in the way.

    Raises
    ------
    OutputError
        If a file stands where a directory is needed.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in (dest.parent, *dest.parent.parents) if p.exists() and not p.is_dir()),
            dest.parent,
        )
        raise OutputError(f"cannot write {dest}: {blocker} is a file, not a directory") from None


def write_image(
    array: np.ndarray,
    path: str | os.PathLike[str],
    *,
    quality: int = 95,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write a uint8 array as an image file, atomically and without metadata.

    Parameters
    ----------
    array : numpy.ndarray
        ``uint8`` array of shape ``(H, W)`` (written as gray) or ``(H, W, 3)``
        (written as RGB).
    path : path-like
        Destination. The format follows the extension: jpg/jpeg, png, webp,
        tif/tiff, bmp, gif. Missing parent directories are created.
    quality : int, optional
        JPEG and WebP quality, 1–100 (default 95). Ignored by lossless formats.
    overwrite : bool, optional
        Replace an existing file at ``path`` (default False).
    protect : iterable of path-like, optional
        Files that must never be replaced, typically the inputs. Writing onto
        one of them (same resolved path or same file) is refused even with
        ``overwrite=True``.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ValueError
        If ``array`` or ``quality`` is invalid.
    OutputError
        If the extension is unknown or ``path`` is a protected file.
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OSError
        If the file system refuses the write; no partial file is left behind.

    Notes
    -----
    The image is built from the array alone, so no EXIF, GPS, ICC profile,
    XMP, comment, thumbnail or text chunk is written. GIF output is reduced
    to a 256-colour palette by Pillow; WebP has no gray mode, so gray images
    are stored there as three equal channels (and read back as RGB).
    """
    dest = Path(path)
    data = _check_array(array)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer from 1 to 100, got {quality!r}")
    fmt = image_format(dest)
    if _is_protected(dest, protect):
        raise OutputError(f"refusing to write {dest}: it is an input file")
    if not overwrite and os.path.lexists(dest):
        raise OutputExistsError(f"{dest} already exists")

    fresh = Image.fromarray(data)
    options: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    make_parent(dest)
    with atomic_writer(dest, overwrite=overwrite) as stream:
        fresh.save(stream, format=fmt, **options)
    return dest
