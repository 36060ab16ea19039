"""Product images (Pillow): proven to be images, bounded, oriented, stripped, resized,
re-encoded and stored under a content-hash name in the data dir's uploads.

What a shop uploads goes to every viewer's phone, so nothing of the original file is
passed on: the pixels are decoded (a text file named ``.png`` fails here), the EXIF
orientation is applied, and a new file is encoded from the pixels alone — no EXIF (GPS
location included), no XMP, no comments. SVG is refused, not sanitised: it is a
document that can carry scripts and external references, and a raster export of it is
one click in any editor.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, features

__all__ = [
    "ALLOWED_FORMATS",
    "DISPLAY_MAX_PX",
    "MAX_BYTES",
    "MAX_PIXELS",
    "THUMBNAIL_MAX_PX",
    "ImageRejected",
    "StoredImage",
    "prepare_image",
    "store_product_image",
    "thumbnail_url",
]

#: The hub serves files up to 20 MB; a larger upload is refused before it is decoded.
MAX_BYTES = 20 * 1024 * 1024
#: Decompression-bomb guard: refused from the header, before any pixel is decoded.
MAX_PIXELS = 40_000_000
#: The long side of the image pages show.
DISPLAY_MAX_PX = 1200
#: The long side of a product card's thumbnail.
THUMBNAIL_MAX_PX = 400
#: What Pillow must find in the file (GIFs keep their first frame).
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
JPEG_QUALITY = 85

_SUBDIR = "products"


class ImageRejected(ValueError):
    """The file is not accepted; ``str(exc)`` tells the presenter why."""


@dataclass(frozen=True, slots=True)
class StoredImage:
    """Where an image was stored: ``url`` (what a product's ``image`` holds, e.g.
    ``/uploads/products/<hash>.jpg``) and its card thumbnail, both on the hub."""

    url: str
    thumbnail_url: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class _Encoded:
    data: bytes
    suffix: str
    width: int
    height: int


def thumbnail_url(url: str) -> str:
    """The card thumbnail of an image :func:`store_product_image` stored:
    ``/uploads/products/ab12.jpg`` -> ``/uploads/products/ab12.thumb.jpg``."""
    stem, dot, suffix = url.rpartition(".")
    return f"{stem}.thumb.{suffix}" if dot else url


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _read(source: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_BYTES:
            raise ImageRejected(f"the file is too large ({_mb(len(data))}); the limit is 20 MB")
        return data, "this file"
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImageRejected(f"{path.name} is too large ({_mb(size)}); the limit is 20 MB")
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ImageRejected(f"{path.name} cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_BYTES:  # it grew while we looked
        raise ImageRejected(f"{path.name} is too large; the limit is 20 MB")
    if path.suffix.lower() in (".svg", ".svgz"):
        raise ImageRejected(_SVG.format(name=path.name))
    return data, path.name


_SVG = (
    "{name} is an SVG drawing; SVG is not accepted (it can carry scripts). "
    "Export it as PNG or JPEG."
)


def _open(data: bytes, name: str) -> Image.Image:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        raise ImageRejected(_SVG.format(name=name))
    with warnings.catch_warnings():
        # Pillow only warns between its own limit and twice it; ours is lower anyway.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
        except Image.DecompressionBombError as exc:
            raise ImageRejected(
                f"{name} has too many pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected(
                f"{name} is not an image Wrencos can use (JPEG, PNG, WebP or GIF)"
            ) from exc
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageRejected(
            f"{name} has too many pixels ({width}×{height} = {width * height / 1e6:.0f}"
            f" megapixels); the limit is {MAX_PIXELS // 1_000_000} megapixels"
        )
    if width < 1 or height < 1:
        raise ImageRejected(f"{name} is empty")
    if image.format == "JPEG":
        # Decode big photos at a reduced scale straight from the DCT: much less work.
        image.draft("RGB", (DISPLAY_MAX_PX * 2, DISPLAY_MAX_PX * 2))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"{name} is damaged or incomplete") from exc
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    # A phone photo in Display P3 would look dull once its profile is stripped: convert
    # the pixels to sRGB, which is what browsers assume without a profile.
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _has_alpha(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
        low = alpha.getextrema()[0]
        return isinstance(low, (int, float)) and low < 255
    return False


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding the pixels and nothing else (no info, EXIF, ICC, XMP)."""
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean


def _encode(image: Image.Image, max_px: int, alpha: bool) -> _Encoded:
    image = image.copy()
    image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS, reducing_gap=3.0)
    image = _pixels_only(image)
    out = io.BytesIO()
    if alpha:
        if features.check("webp"):
            image.save(out, "WEBP", quality=JPEG_QUALITY, method=4)
            suffix = "webp"
        else:
            image.save(out, "PNG", optimize=True)
            suffix = "png"
    else:
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        suffix = "jpg"
    return _Encoded(out.getvalue(), suffix, image.width, image.height)


def prepare_image(source: str | os.PathLike[str] | bytes) -> tuple[bytes, bytes, str]:
    """Check and re-encode an uploaded image; returns (display bytes, thumbnail bytes,
    suffix). Raises :class:`ImageRejected` with a message for the presenter."""
    display, thumb = _prepare(source)
    return display.data, thumb.data, display.suffix


def _prepare(source: str | os.PathLike[str] | bytes) -> tuple[_Encoded, _Encoded]:
    data, name = _read(source)
    image = _open(data, name)
    if getattr(image, "is_animated", False):
        image.seek(0)
    # A broken EXIF block: keep the pixels as stored.
    with contextlib.suppress(OSError, ValueError, SyntaxError):
        image = ImageOps.exif_transpose(image) or image
    alpha = _has_alpha(image)
    image = image.convert("RGBA" if alpha else "RGB")
    image = _to_srgb(image)
    return _encode(image, DISPLAY_MAX_PX, alpha), _encode(image, THUMBNAIL_MAX_PX, alpha)


def store_product_image(
    source: str | os.PathLike[str] | bytes, uploads_dir: str | os.PathLike[str]
) -> StoredImage:
    """Check, clean and store an uploaded product image under ``uploads_dir/products/``;
    the same picture stored twice is one file (its name is the hash of its bytes).

    Blocking (decoding a 40-megapixel photo takes a moment): call it off the event loop.
    Raises :class:`ImageRejected`."""
    display, thumb = _prepare(source)
    digest = hashlib.sha256(display.data).hexdigest()[:32]
    folder = Path(uploads_dir) / _SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{digest}.{display.suffix}"
    _write_atomically(folder / name, display.data)
    _write_atomically(folder / f"{digest}.thumb.{thumb.suffix}", thumb.data)
    url = f"/uploads/{_SUBDIR}/{name}"
    return StoredImage(url, thumbnail_url(url), display.width, display.height)


def _write_atomically(path: Path, data: bytes) -> None:
    if path.exists() and path.stat().st_size == len(data):
        return  # content-addressed: the same bytes are already there
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
