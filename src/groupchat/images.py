"""Upload validation and re-encoding of images (avatars and chat images).

The format is decided by decoding the bytes, never by file name or client content type;
only PNG, JPEG, GIF and WebP are accepted. `ImageError.status` is:

- 413: the upload is larger than `max_bytes`;
- 415: not a PNG, JPEG, GIF or WebP image (SVG, text, PDF, other formats, empty data);
- 422: a supported format that cannot be fully decoded (corrupt or truncated; this includes
  data that starts with the signature of an accepted format but cannot be opened), or that has
  more than `max_pixels` pixels (decompression bomb), or an animation with more than
  `MAX_FRAMES` frames or more than `max_pixels` pixels over all its frames.

The image is re-encoded in its own format without metadata (no EXIF, ICC, XMP, text
chunks or comments) after applying the EXIF orientation. An embedded ICC profile is
converted to sRGB before it is dropped, so wide-gamut photos keep their colours. Animated
GIF, WebP and APNG keep their frames, durations and loop count. MPO files (multi-picture
JPEGs from cameras) are stored as a plain JPEG of their first picture.

Memory: the pixel limit is checked from the header before any pixel is decoded (callers pass
a lower one for avatars than for chat images); a JPEG that will be shrunk (avatars) is decoded
at a reduced scale (`draft`, DCT scaling: up to 1/8 of each side); a still image is turned
upright and converted to sRGB in place, so one full-size copy of the pixels is alive at a time
(an RGB pixel takes 4 bytes: a 25 MP picture is 100 MB). Callers also bound how many images
are processed at once (actions/uploads.py).

The pixel limit is checked from the header before any pixel is decoded. Pillow's own
bomb guard (`Image.MAX_IMAGE_PIXELS`, left untouched) still applies on top, so limits above
about 89 million pixels have no effect; its warning is turned into an error for the call.
`warnings.catch_warnings` is process wide, which is why the header check, not the warning,
is the guard that counts when several threads process images at once.

The work is CPU bound and synchronous: callers run it in a worker thread.
"""

import functools
import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps, ImageSequence

MAX_FRAMES = 1000

_TYPES = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
_OPEN_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
_ANIMATED_FORMATS = frozenset({"PNG", "GIF", "WEBP"})
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 88, "optimize": True},
    "PNG": {"optimize": True},
    "WEBP": {"quality": 85},
    "GIF": {},
}
_WRITABLE_MODES = {
    "JPEG": frozenset({"L", "RGB"}),
    "PNG": frozenset({"1", "L", "LA", "I;16", "P", "RGB", "RGBA"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
    "GIF": frozenset({"1", "L", "P", "RGB", "RGBA"}),
}
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_NOT_SUPPORTED = "not a PNG, JPEG, GIF or WebP image"
_CORRUPT = "image is corrupt or truncated"


class ImageError(Exception):
    """An upload refused with an HTTP status (413, 415 or 422) and a readable reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ProcessedImage:
    """A re-encoded image; `extension` has no leading dot ("png", "jpg", "gif", "webp")."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@dataclass
class _Decoded:
    fmt: str
    frames: list[Image.Image]
    durations: list[int]
    loop: int | None


def process_image(
    data: bytes, *, max_bytes: int, max_pixels: int = 25_000_000, max_side: int | None = None
) -> ProcessedImage:
    """Validate an uploaded image and re-encode it without metadata; raise ImageError."""
    if len(data) > max_bytes:
        raise ImageError(413, f"image is larger than {max_bytes} bytes")
    # Pillow's default, set here rather than trusted: truncated files must fail to load.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        # Pillow warns about odd metadata that is dropped anyway; a bomb warning must stop us.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open(data, max_pixels) as img:
            if max_side is not None and img.format in ("JPEG", "MPO"):
                img.draft(img.mode, (max_side, max_side))  # decode at 1/2..1/8 scale
            decoded = _decode(img, max_pixels)
            try:
                frames = [_prepare(f, decoded.fmt, max_side) for f in decoded.frames]
                del decoded.frames[:]  # the prepared frames replace them
                encoded = _encode(decoded, frames)
            except MemoryError:
                raise
            except Exception as exc:
                raise ImageError(422, "image could not be processed") from exc
    content_type, extension = _TYPES[decoded.fmt]
    width, height = frames[0].size
    return ProcessedImage(encoded, content_type, extension, width, height)


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Identify the format and read the header only, refusing oversized canvases."""
    try:
        img = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(422, "image has too many pixels") from None
    except MemoryError:
        raise
    except Exception:
        status = 422 if _has_known_signature(data) else 415
        raise ImageError(status, _NOT_SUPPORTED if status == 415 else _CORRUPT) from None
    width, height = img.size
    if img.format not in _TYPES and img.format != "MPO":
        img.close()
        raise ImageError(415, _NOT_SUPPORTED)
    if width < 1 or height < 1 or width * height > max_pixels:
        img.close()
        raise ImageError(422, "image has too many pixels")
    return img


def _has_known_signature(data: bytes) -> bool:
    """Tell whether the bytes start like one of the accepted formats."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _decode(img: ImageFile.ImageFile, max_pixels: int) -> _Decoded:
    """Fully decode every frame kept, mapping decoder failures to 422."""
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    loop = img.info.get("loop")
    try:
        if fmt in _ANIMATED_FORMATS and getattr(img, "is_animated", False):
            frames, durations = _decode_frames(img, max_pixels)
        else:
            img.load()
            frames, durations = [_upright(img, in_place=True)], [0]
    except (ImageError, MemoryError):
        raise
    except Exception as exc:
        raise ImageError(422, _CORRUPT) from exc
    return _Decoded(fmt, frames, durations, loop if isinstance(loop, int) else None)


def _decode_frames(
    img: ImageFile.ImageFile, max_pixels: int
) -> tuple[list[Image.Image], list[int]]:
    """Decode an animation frame by frame within the frame and pixel budgets."""
    width, height = img.size
    frames: list[Image.Image] = []
    durations: list[int] = []
    for index, frame in enumerate(ImageSequence.Iterator(img)):
        if index >= MAX_FRAMES or (index + 1) * width * height > max_pixels:
            raise ImageError(422, "animation has too many frames or pixels")
        frame.load()
        frames.append(_upright(frame))
        durations.append(round(frame.info.get("duration", 100)))
    return frames, durations


def _upright(frame: Image.Image, *, in_place: bool = False) -> Image.Image:
    """The frame turned as its EXIF orientation says: itself (in_place) or a copy."""
    try:
        if in_place:
            ImageOps.exif_transpose(frame, in_place=True)
            return frame
        return ImageOps.exif_transpose(frame)
    except MemoryError:
        raise
    except Exception:
        # Unreadable EXIF: the pixels are fine, keep them as stored.
        return frame if in_place else frame.copy()


def _prepare(frame: Image.Image, fmt: str, max_side: int | None) -> Image.Image:
    """Shrink, convert to sRGB and to a mode the format can write; drop metadata."""
    if max_side is not None and max(frame.size) > max_side:
        frame = _shrink(frame, max_side)
    frame = _to_srgb(frame)
    if frame.mode not in _WRITABLE_MODES[fmt]:
        frame = frame.convert("RGBA" if frame.has_transparency_data and fmt != "JPEG" else "RGB")
    transparency = frame.info.get("transparency")
    frame.info = {}
    if transparency is not None and frame.mode in ("1", "L", "P", "RGB"):
        frame.info["transparency"] = transparency
    return frame


def _shrink(frame: Image.Image, max_side: int) -> Image.Image:
    """Downsize so that neither side exceeds max_side, keeping the aspect ratio."""
    original_mode = frame.mode
    if frame.mode == "P":
        frame = frame.convert("RGBA" if frame.has_transparency_data else "RGB")
    elif frame.mode == "1":
        frame = frame.convert("L")
    elif frame.mode == "I;16":
        frame = frame.convert("I")
    frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return frame.convert("I;16") if original_mode == "I;16" else frame


def _to_srgb(frame: Image.Image) -> Image.Image:
    """Convert pixels described by an embedded ICC profile to sRGB."""
    icc = frame.info.get("icc_profile")
    if not icc or frame.mode not in ("RGB", "RGBA", "CMYK"):
        return frame
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if frame.mode == "RGBA" else "RGB"
        if mode == frame.mode:  # no second full-size copy of the pixels
            ImageCms.profileToProfile(frame, source, _srgb(), outputMode=mode, inPlace=True)
            return frame
        converted = ImageCms.profileToProfile(frame, source, _srgb(), outputMode=mode)
    except MemoryError:
        raise
    except Exception:
        # A broken profile: keep the pixels as they are rather than refuse the image.
        return frame
    return converted if converted is not None else frame


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    """Return the built-in sRGB profile, built once."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _encode(decoded: _Decoded, frames: list[Image.Image]) -> bytes:
    """Write the frames in the source format with our fixed encoder settings."""
    options = dict(_SAVE_OPTIONS[decoded.fmt])
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=decoded.durations)
        if decoded.loop is not None:
            options["loop"] = decoded.loop
    out = io.BytesIO()
    frames[0].save(out, format=decoded.fmt, **options)
    return out.getvalue()
