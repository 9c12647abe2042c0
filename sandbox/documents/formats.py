"""Which document format a file is, from its name and its first bytes (standard library only:
the host decides this for every file of a folder, before any extractor is loaded)."""

from __future__ import annotations

SNIFF_BYTES = 8192

# what each format is called to the model and in summary lines
FORMAT_NAMES = {
    "pdf": "PDF", "docx": "Word document", "pptx": "PowerPoint deck", "xlsx": "Excel workbook",
    "odf": "OpenDocument file", "epub": "EPUB book", "html": "web page", "eml": "e-mail",
    "mbox": "mailbox", "gz": "gzip-compressed file", "bz2": "bzip2-compressed file",
    "xz": "xz-compressed file", "zst": "zstd-compressed file", "zip": "zip archive", "tar": "tar archive",
    "image": "picture",
}
FORMATS = tuple(FORMAT_NAMES)
# formats whose files are text already: without extraction they are read as they are
TEXT_FORMATS = ("html", "eml", "mbox")

_ZIP_SUFFIXES = {
    ".docx": "docx", ".docm": "docx", ".dotx": "docx", ".pptx": "pptx", ".pptm": "pptx", ".ppsx": "pptx",
    ".xlsx": "xlsx", ".xlsm": "xlsx", ".odt": "odf", ".ods": "odf", ".odp": "odf", ".odg": "odf",
    ".ott": "odf", ".epub": "epub",
}
_COMPRESSED = ((b"\x1f\x8b", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zst"))
_IMAGES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
           (b"GIF89a", "image/gif"))
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")


def image_type(head: bytes) -> str | None:
    """The media type of a picture a vision model takes (PNG, JPEG, GIF, WebP), from its first bytes."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _IMAGES if head.startswith(magic)), None)
_HTML_STARTS = (b"<!doctype html", b"<html")
_MAIL_HEADERS = (b"return-path:", b"received:", b"delivered-to:", b"message-id:", b"mime-version:", b"from:",
                 b"x-", b"date:", b"subject:", b"to:")


def detect(name: str, head: bytes) -> str | None:
    """The format of a file called `name` whose first bytes are `head` (SNIFF_BYTES of them, or
    all of a shorter file), or None for plain text and for binary files of no format known
    here. The bytes decide where they can (a PDF named .txt is a PDF); the name decides among
    the zip-based formats and for text formats (a page saved as .html)."""
    lower = name.lower()
    suffix = lower[lower.rfind("."):] if "." in lower.rsplit("/", 1)[-1] else ""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if suffix in _ZIP_SUFFIXES:
            return _ZIP_SUFFIXES[suffix]
        if b"mimetypeapplication/epub+zip" in head[:100]:
            return "epub"
        if b"mimetypeapplication/vnd.oasis.opendocument" in head[:120]:
            return "odf"
        return "zip"
    for magic, fmt in _COMPRESSED:
        if head.startswith(magic):
            return fmt
    if head[257:262] == b"ustar":
        return "tar"
    if image_type(head) is not None:
        return "image"
    if b"\0" in head:
        return None  # binary, of no format read here
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if suffix in _HTML_SUFFIXES or start.startswith(_HTML_STARTS):
        return "html"
    if suffix == ".eml" and start.startswith(_MAIL_HEADERS):
        return "eml"
    if (suffix == ".mbox" or lower.rsplit("/", 1)[-1] == "mbox") and head.startswith(b"From "):
        return "mbox"
    return None


def is_binary_format(fmt: str | None) -> bool:
    """Whether files of this format are binary (left out as such when not extracted)."""
    return fmt is not None and fmt not in TEXT_FORMATS
