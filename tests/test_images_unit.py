"""Unit tests for groupchat.images: validation, re-encoding and metadata stripping."""

import io
import struct
import warnings
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, PngImagePlugin

from groupchat.images import ImageError, ProcessedImage, process_image

MB = 1024 * 1024


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def gradient(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    return img.convert(mode)


def refused(data: bytes, **kwargs: int) -> ImageError:
    kwargs.setdefault("max_bytes", 5 * MB)
    with pytest.raises(ImageError) as info:
        process_image(data, **kwargs)
    return info.value


def chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a huge 1-bit canvas, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated_gif(frames: int = 3, size: tuple[int, int] = (40, 30)) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", size, colours[i % 4]) for i in range(frames)]
    durations = [70 + 10 * i for i in range(frames)]
    return encode(
        images[0], "GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )


# --- round trips -------------------------------------------------------------------------


def test_png_round_trip_is_lossless() -> None:
    source = gradient((64, 48), "RGBA")
    result = process_image(encode(source, "PNG"), max_bytes=MB)
    assert isinstance(result, ProcessedImage)
    assert (result.content_type, result.extension) == ("image/png", "png")
    assert (result.width, result.height) == (64, 48)
    out = decode(result.data)
    assert out.format == "PNG" and out.mode == "RGBA"
    assert out.tobytes() == source.tobytes()


def test_jpeg_round_trip() -> None:
    result = process_image(encode(gradient((80, 60)), "JPEG", quality=95), max_bytes=MB)
    assert (result.content_type, result.extension) == ("image/jpeg", "jpg")
    out = decode(result.data)
    assert out.format == "JPEG" and out.size == (80, 60) and out.mode == "RGB"
    assert (result.width, result.height) == (80, 60)


def test_static_gif_keeps_palette_and_transparency() -> None:
    source = Image.new("P", (20, 10), 1)
    source.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    source.paste(0, (0, 0, 5, 5))
    result = process_image(encode(source, "GIF", transparency=0), max_bytes=MB)
    assert (result.content_type, result.extension) == ("image/gif", "gif")
    out = decode(result.data)
    assert out.format == "GIF" and out.size == (20, 10)
    assert not getattr(out, "is_animated", False)
    rgba = out.convert("RGBA")
    assert rgba.getpixel((0, 0))[3] == 0
    assert rgba.getpixel((10, 5)) == (255, 0, 0, 255)


def test_animated_gif_keeps_frames_durations_and_loop() -> None:
    result = process_image(animated_gif(3), max_bytes=MB)
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "GIF" and out.n_frames == 3
    assert out.info.get("loop") == 0
    durations, colours = [], []
    for index in range(3):
        out.seek(index)
        durations.append(out.info["duration"])
        colours.append(out.convert("RGB").getpixel((5, 5)))
    assert durations == [70, 80, 90]
    assert colours == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_webp_round_trip() -> None:
    source = gradient((50, 40))
    source.putalpha(gradient((50, 40), "L").transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    result = process_image(encode(source, "WEBP"), max_bytes=MB)
    assert (result.content_type, result.extension) == ("image/webp", "webp")
    out = decode(result.data)
    assert out.format == "WEBP" and out.size == (50, 40) and out.mode == "RGBA"


def test_animated_webp_keeps_frames() -> None:
    frames = [Image.new("RGB", (30, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=[50, 60])
    result = process_image(data, max_bytes=MB)
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "WEBP" and out.n_frames == 2
    out.seek(1)
    red, _, blue = out.convert("RGB").getpixel((10, 10))
    assert blue > 200 and red < 50


def test_animated_png_keeps_frames() -> None:
    frames = [Image.new("RGB", (30, 20), c) for c in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=[40, 40])
    out = Image.open(io.BytesIO(process_image(data, max_bytes=MB).data))
    assert out.format == "PNG" and out.n_frames == 2
    out.seek(1)
    assert out.convert("RGB").getpixel((3, 3)) == (0, 255, 0)


def test_cmyk_jpeg_becomes_rgb() -> None:
    source = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    out = decode(process_image(encode(source, "JPEG"), max_bytes=MB).data)
    assert out.mode == "RGB"
    red, green, blue = out.getpixel((8, 8))
    assert red > 200 and green < 60 and blue < 60


def test_grayscale_and_bilevel_png_survive() -> None:
    for mode in ("L", "LA", "1", "I;16", "P"):
        source = gradient((30, 30), "L").convert(mode)
        out = decode(process_image(encode(source, "PNG"), max_bytes=MB).data)
        assert out.size == (30, 30)
        assert out.mode == source.mode


def test_mpo_is_stored_as_plain_jpeg() -> None:
    first, second = gradient((40, 30)), Image.new("RGB", (40, 30), (0, 0, 255))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert decode(data).format == "MPO"
    result = process_image(data, max_bytes=MB)
    out = decode(result.data)
    assert result.content_type == "image/jpeg" and out.format == "JPEG"
    assert not getattr(out, "is_animated", False)


# --- metadata ---------------------------------------------------------------------------


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = "EXIF-MARKER-4711"
    exif[ExifTags.Base.Make] = "MarkerCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_jpeg_exif_gps_comment_xmp_and_icc_are_removed() -> None:
    data = encode(
        gradient((40, 30)),
        "JPEG",
        exif=exif_with_gps(),
        comment=b"COMMENT-MARKER",
        xmp=b"<x:xmpmeta>XMP-MARKER</x:xmpmeta>",
        icc_profile=SRGB_ICC,
    )
    source = decode(data)
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture really has GPS
    assert b"EXIF-MARKER-4711" in data and b"XMP-MARKER" in data
    result = process_image(data, max_bytes=MB)
    out = decode(result.data)
    assert len(out.getexif()) == 0
    assert not out.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    for key in ("exif", "icc_profile", "xmp", "comment"):
        assert key not in out.info
    for marker in (b"EXIF-MARKER-4711", b"MarkerCam", b"COMMENT-MARKER", b"XMP-MARKER", b"Exif"):
        assert marker not in result.data


def test_png_text_exif_and_icc_are_removed() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "PNG-TEXT-MARKER")
    text.add_itxt("XML:com.adobe.xmp", "PNG-XMP-MARKER")
    source = gradient((20, 20))
    data = encode(source, "PNG", pnginfo=text, exif=exif_with_gps(), icc_profile=SRGB_ICC)
    assert b"PNG-TEXT-MARKER" in data
    result = process_image(data, max_bytes=MB)
    out = decode(result.data)
    assert len(out.getexif()) == 0
    assert "icc_profile" not in out.info and "xmp" not in out.info
    for marker in (b"PNG-TEXT-MARKER", b"PNG-XMP-MARKER", b"EXIF-MARKER-4711", b"iCCP", b"eXIf"):
        assert marker not in result.data
    # sRGB to sRGB must not visibly change the pixels.
    assert max(abs(a - b) for a, b in zip(out.tobytes(), source.tobytes(), strict=True)) <= 2


def test_webp_and_gif_metadata_are_removed() -> None:
    webp = encode(gradient((20, 20)), "WEBP", exif=exif_with_gps(), xmp=b"WEBP-XMP-MARKER")
    gif = encode(gradient((20, 20)), "GIF", comment=b"GIF-COMMENT-MARKER")
    assert b"WEBP-XMP-MARKER" in webp and b"GIF-COMMENT-MARKER" in gif
    webp_out = process_image(webp, max_bytes=MB).data
    gif_out = process_image(gif, max_bytes=MB).data
    assert b"EXIF-MARKER-4711" not in webp_out and b"WEBP-XMP-MARKER" not in webp_out
    assert b"GIF-COMMENT-MARKER" not in gif_out
    assert len(decode(webp_out).getexif()) == 0


def test_exif_orientation_is_applied() -> None:
    source = Image.new("RGB", (40, 20), (255, 0, 0))
    source.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90 degrees clockwise to view
    result = process_image(encode(source, "JPEG", exif=exif, quality=95), max_bytes=MB)
    out = decode(result.data)
    assert (result.width, result.height) == (20, 40) == out.size
    assert ExifTags.Base.Orientation not in out.getexif()
    top = out.getpixel((10, 5))
    assert top[2] > 200 and top[0] < 60  # the blue left half is now on top


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is just text\n" * 20,
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<script>alert(1)</script><rect width="10" height="10"/></svg>',
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n",
        b"GIF8" + b"\x00" * 40,
    ],
    ids=["empty", "text", "svg", "pdf", "gif-like"],
)
def test_not_an_image_is_415(data: bytes) -> None:
    error = refused(data)
    assert error.status == 415
    assert error.detail


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_are_415(fmt: str) -> None:
    assert refused(encode(gradient((16, 16)), fmt)).status == 415


@pytest.mark.parametrize(
    ("fmt", "cut"),
    [("PNG", 0.5), ("JPEG", 0.5), ("GIF", 0.5), ("WEBP", 0.6), ("JPEG", 0.9)],
)
def test_truncated_image_is_422(fmt: str, cut: float) -> None:
    data = encode(Image.effect_noise((120, 120), 60).convert("RGB"), fmt)
    error = refused(data[: int(len(data) * cut)])
    assert error.status == 422


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,
        b"GIF89a" + b"\xff" * 40,
        b"RIFF\x30\x00\x00\x00WEBPVP8 " + b"\x00" * 40,
    ],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_garbage_after_a_known_signature_is_422(data: bytes) -> None:
    assert refused(data).status == 422


def test_truncated_animation_is_422() -> None:
    data = animated_gif(4, (60, 60))
    assert refused(data[: len(data) - 40]).status == 422


def test_truncated_is_refused_even_if_pillow_was_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(Image.effect_noise((120, 120), 60).convert("RGB"), "PNG")
    assert refused(data[: len(data) // 2]).status == 422


@pytest.mark.parametrize(
    "size",
    [(6000, 6000), (10_000, 10_000), (100_000, 100_000)],
    ids=["over-our-limit", "pillow-warning-zone", "pillow-error-zone"],
)
def test_png_decompression_bomb_is_422_without_decoding(size: tuple[int, int]) -> None:
    data = png_header(*size)
    assert len(data) < 1000
    error = refused(data)  # refused from the header: the pixels are never decoded
    assert error.status == 422
    assert "pixels" in error.detail


def test_pillow_bomb_warning_is_an_error_even_when_warnings_are_ignored() -> None:
    # Our own limit is raised above Pillow's, so only the bomb warning can stop decoding.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = refused(png_header(10_000, 10_000), max_pixels=200_000_000)
    assert error.status == 422
    assert "pixels" in error.detail


def test_gif_and_jpeg_bombs_are_422() -> None:
    gif = (
        b"GIF89a"
        + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
        + b","
        + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0)
        + b"\x02\x02\x44\x01\x00;"
    )
    jpeg = bytearray(encode(gradient((16, 16)), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    for data in (gif, bytes(jpeg)):
        error = refused(data)
        assert (error.status, "pixels" in error.detail) == (422, True)


def test_max_pixels_is_checked_from_the_header() -> None:
    data = encode(gradient((100, 100)), "PNG")
    assert refused(data, max_pixels=9_999).status == 422
    assert process_image(data, max_bytes=MB, max_pixels=10_000).width == 100


def test_animation_over_pixel_budget_is_422() -> None:
    data = animated_gif(5, (100, 100))
    error = refused(data, max_pixels=30_000)
    assert error.status == 422
    assert process_image(data, max_bytes=MB, max_pixels=50_000).width == 100


def test_over_max_bytes_is_413() -> None:
    data = encode(gradient((32, 32)), "PNG")
    error = refused(data, max_bytes=len(data) - 1)
    assert error.status == 413
    assert process_image(data, max_bytes=len(data)).width == 32


def test_413_is_decided_before_decoding() -> None:
    assert refused(b"x" * (2 * MB + 1), max_bytes=2 * MB).status == 413


# --- max_side ---------------------------------------------------------------------------


def test_max_side_shrinks_and_keeps_aspect() -> None:
    result = process_image(encode(gradient((1000, 500)), "JPEG"), max_bytes=MB, max_side=100)
    assert (result.width, result.height) == (100, 50)
    assert decode(result.data).size == (100, 50)


def test_max_side_leaves_small_images_alone() -> None:
    result = process_image(encode(gradient((80, 40)), "PNG"), max_bytes=MB, max_side=512)
    assert (result.width, result.height) == (80, 40)


@pytest.mark.parametrize("mode", ["P", "1", "LA", "I;16", "RGBA"])
def test_max_side_handles_png_modes(mode: str) -> None:
    source = gradient((300, 150), "L").convert(mode)
    out = decode(process_image(encode(source, "PNG"), max_bytes=MB, max_side=60).data)
    assert out.size == (60, 30)


def test_max_side_shrinks_every_frame_of_an_animation() -> None:
    result = process_image(animated_gif(3, (200, 100)), max_bytes=MB, max_side=50)
    out = Image.open(io.BytesIO(result.data))
    assert out.size == (50, 25) and out.n_frames == 3


def test_transparent_palette_png_shrinks_to_rgba() -> None:
    source = Image.new("P", (200, 200), 0)
    source.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    source.paste(1, (100, 0, 200, 200))
    data = encode(source, "PNG", transparency=0)
    out = decode(process_image(data, max_bytes=MB, max_side=50).data).convert("RGBA")
    assert out.getpixel((5, 25))[3] == 0
    assert out.getpixel((45, 25)) == (0, 255, 0, 255)
