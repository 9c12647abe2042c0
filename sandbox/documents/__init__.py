"""Documents as text with their places: PDF, office files, OpenDocument, EPUB, HTML, e-mail,
compressed files and archives are read by isolated workers (`pool`, `worker`) with well-kept
libraries (`readers_pages`, `readers_containers`) into text that says where each part came
from (page, sheet, slide, section, member), cached by content (`cache`)."""

from sandbox.documents.formats import FORMAT_NAMES, detect
from sandbox.documents.pool import Extracted, ExtractOptions, extract_files

__all__ = ["FORMAT_NAMES", "ExtractOptions", "Extracted", "detect", "extract_files"]
