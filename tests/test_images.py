"""Product images with Pillow: real files in, checked and cleaned files out."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from wrencos_studio.catalog.images import (
    DISPLAY_MAX_PX,
    THUMBNAIL_MAX_PX,
    ImageRejected,
    store_product_image,
)


def _phone_photo(path: Path) -> None:
    """A 1600x1200 JPEG as a phone stores it: sideways (Orientation 6, "rotate 90° CW to
    view") with a GPS position in its EXIF."""
    image = Image.new("RGB", (1600, 1200), "white")
    image.paste((255, 0, 0), (0, 0, 200, 1200))  # a red band on the stored left edge
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (2.0, 17.0, 40.0),
    }
    exif[ExifTags.IFD.GPSInfo] = gps
    image.save(path, "JPEG", exif=exif.tobytes(), quality=95)


def _file(url: str, uploads: Path) -> Path:
    assert url.startswith("/uploads/")
    return uploads / url.removeprefix("/uploads/")


def test_a_phone_photo_is_turned_upright_and_loses_its_location(tmp_path: Path) -> None:
    """EXIF orientation applied, then every metadata block gone (GPS included), long
    side at most 1200 px, a JPEG with a content-hash name and a thumbnail beside it."""
    source = tmp_path / "IMG_0001.JPG"
    _phone_photo(source)
    assert Image.open(source).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test's premise
    uploads = tmp_path / "uploads"
    stored = store_product_image(source, uploads)
    out = Image.open(_file(stored.url, uploads))
    assert out.format == "JPEG"
    assert out.size == (900, 1200)  # was 1600x1200 lying on its side
    assert max(out.size) <= DISPLAY_MAX_PX
    # The red band was on the stored left: upright, it is along the top.
    assert out.getpixel((450, 20))[0] > 200 and out.getpixel((450, 20))[1] < 60
    assert out.getpixel((450, 600))[1] > 200
    assert len(out.getexif()) == 0
    raw = _file(stored.url, uploads).read_bytes()
    assert b"Exif" not in raw and b"PhoneMaker" not in raw and b"GPS" not in raw
    thumb = Image.open(_file(stored.thumbnail_url, uploads))
    assert max(thumb.size) == THUMBNAIL_MAX_PX and len(thumb.getexif()) == 0
    assert stored.thumbnail_url == stored.url.replace(".jpg", ".thumb.jpg")
    # The same picture again is the same file.
    assert store_product_image(source.read_bytes(), uploads).url == stored.url
    assert len(list((uploads / "products").iterdir())) == 2


def test_transparency_is_kept_in_a_format_that_has_it(tmp_path: Path) -> None:
    """A PNG with see-through pixels stays see-through (WebP or PNG, never JPEG)."""
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    image.paste((0, 128, 255, 255), (50, 50, 250, 150))
    source = tmp_path / "logo.png"
    image.save(source)
    stored = store_product_image(source, tmp_path / "uploads")
    out = Image.open(_file(stored.url, tmp_path / "uploads"))
    assert out.format in ("WEBP", "PNG")
    assert out.convert("RGBA").getpixel((5, 5))[3] == 0
    assert out.convert("RGBA").getpixel((150, 100))[3] == 255


def test_an_opaque_png_becomes_a_jpeg(tmp_path: Path) -> None:
    """A screenshot without transparency is re-encoded as JPEG (quality 85): smaller."""
    source = tmp_path / "shot.png"
    Image.new("RGBA", (200, 100), (10, 200, 30, 255)).save(source)
    stored = store_product_image(source, tmp_path / "uploads")
    assert stored.url.endswith(".jpg")
    assert (stored.width, stored.height) == (200, 100)  # small images are not enlarged


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, and a tiny IDAT: what a
    decompression bomb looks like before it is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """20000x20000 (400 Mpx) is refused without decoding; so is 8000x6000 (48 Mpx)."""
    for size in ((20000, 20000), (8000, 6000)):
        source = tmp_path / f"bomb{size[0]}.png"
        source.write_bytes(_png_header_only(*size))
        with pytest.raises(ImageRejected, match=r"too many pixels.*40 megapixels"):
            store_product_image(source, tmp_path / "uploads")
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").rglob("*.*"))


def test_a_text_file_named_png_is_refused(tmp_path: Path) -> None:
    """The extension proves nothing: the bytes must decode as an image."""
    source = tmp_path / "notes.png"
    source.write_text("these are not pixels\n" * 20)
    with pytest.raises(ImageRejected, match=r"notes\.png is not an image"):
        store_product_image(source, tmp_path / "uploads")


def test_more_than_20_mb_is_refused_before_decoding(tmp_path: Path) -> None:
    """26.5 MB: refused with its size, as a path and as bytes."""
    source = tmp_path / "huge.jpg"
    with source.open("wb") as fh:
        fh.truncate(int(26.5 * 1024 * 1024))
    with pytest.raises(ImageRejected, match=r"huge.jpg is too large \(26.5 MB\); the limit is 20"):
        store_product_image(source, tmp_path / "uploads")
    with pytest.raises(ImageRejected, match="too large"):
        store_product_image(b"\0" * (20 * 1024 * 1024 + 1), tmp_path / "uploads")


def test_svg_is_refused(tmp_path: Path) -> None:
    """SVG can carry scripts: refused (by name and by content), with a way out."""
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for name in ("logo.svg", "logo.png"):
        source = tmp_path / name
        source.write_text(svg)
        with pytest.raises(ImageRejected, match=r"SVG is not accepted.*PNG or JPEG"):
            store_product_image(source, tmp_path / "uploads")


def test_a_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    """Half a file: a clear message, nothing stored."""
    buf = io.BytesIO()
    Image.effect_noise((400, 400), 50).convert("RGB").save(buf, "JPEG")
    source = tmp_path / "half.jpg"
    source.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageRejected, match="damaged or incomplete"):
        store_product_image(source, tmp_path / "uploads")


def test_webp_and_gif_uploads_are_accepted(tmp_path: Path) -> None:
    """The other allowed formats decode and are re-encoded like the rest."""
    for name, fmt in (("a.webp", "WEBP"), ("b.gif", "GIF")):
        source = tmp_path / name
        Image.new("RGB", (64, 48), "navy").save(source, fmt)
        stored = store_product_image(source, tmp_path / "uploads")
        assert (stored.width, stored.height) == (64, 48)
