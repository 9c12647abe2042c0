"""Readers of the formats that have pages or parts of their own: PDF (pages, through PDFium),
Word (sections by heading), PowerPoint (slides), Excel (sheets), OpenDocument, EPUB (chapters)
and HTML. Each writes one document's text and places to a `Sink` (runs inside the extraction
worker, on hostile files: every loop checks the sink's deadline, every write its limit)."""

from __future__ import annotations

import datetime
import io
import posixpath
import re
from typing import Any, BinaryIO

from sandbox.documents.sink import Sink

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
MAX_ROWS_PER_SHEET = 1_000_000


def clean(text: str) -> str:
    """Extracted text with one kind of line break and no control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def read_pdf(stream: BinaryIO, sink: Sink, name: str) -> None:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(stream)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        raise ValueError("the PDF is encrypted (it needs a password)" if "password" in message.lower()
                         else f"not a readable PDF ({message})") from None
    sink.begin(name, "pdf")
    blank = 0
    try:
        for i in range(len(pdf)):
            sink.check()
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                try:
                    text = clean(textpage.get_text_range())
                finally:
                    textpage.close()
            finally:
                page.close()
            sink.place(f"p. {i + 1}")
            if text.strip():
                sink.text(text if text.endswith("\n") else text + "\n")
            else:
                blank += 1
    finally:
        pdf.close()
    if blank:
        sink.notes.append(f"{name or 'the PDF'}: {blank} of its pages have no text (scanned images?)")


def read_docx(stream: BinaryIO, sink: Sink, name: str) -> None:
    import docx
    from docx.table import Table

    document = docx.Document(stream)
    sink.begin(name, "docx")
    for block in document.iter_inner_content():
        sink.check()
        if isinstance(block, Table):
            _table(sink, ([cell.text for cell in row.cells] for row in block.rows))
            continue
        text = clean(block.text)
        style = (block.style.name or "") if block.style is not None else ""
        if text.strip() and style.startswith(("Heading", "Title")):
            sink.place(f"§ {text.strip()}")
        elif text:
            sink.text(text + "\n")


def _table(sink: Sink, rows: Any) -> None:
    for cells in rows:
        sink.check()
        values = [clean(str(c)).replace("\n", " ").strip() for c in cells]
        while values and not values[-1]:
            values.pop()
        if values:
            sink.text("\t".join(values) + "\n")


def read_pptx(stream: BinaryIO, sink: Sink, name: str) -> None:
    from pptx import Presentation

    deck = Presentation(stream)
    sink.begin(name, "pptx")
    for number, slide in enumerate(deck.slides, 1):
        sink.check()
        sink.place(f"slide {number}")
        _shapes(sink, slide.shapes)
        if slide.has_notes_slide:
            notes = clean(slide.notes_slide.notes_text_frame.text or "") if slide.notes_slide.notes_text_frame else ""
            if notes.strip():
                sink.text(f"Notes: {notes}\n")


def _shapes(sink: Sink, shapes: Any) -> None:
    for shape in shapes:
        sink.check()
        if getattr(shape, "shape_type", None) == 6:  # a group: its shapes in order
            _shapes(sink, shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            _table(sink, ([cell.text for cell in row.cells] for row in shape.table.rows))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            text = clean(shape.text_frame.text)
            if text.strip():
                sink.text(text + "\n")


def read_xlsx(stream: BinaryIO, sink: Sink, name: str) -> None:
    import openpyxl

    book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    sink.begin(name, "xlsx")
    try:
        for sheet in book.worksheets:
            sink.place(f"sheet {sheet.title}")
            for rows, row in enumerate(sheet.iter_rows(values_only=True), 1):
                if rows > MAX_ROWS_PER_SHEET:
                    sink.notes.append(f"{name or 'the workbook'}: sheet {sheet.title!r} read to its "
                                      f"{MAX_ROWS_PER_SHEET:,}th row")
                    break
                if rows % 256 == 0:
                    sink.check()
                _table(sink, [[_cell(v) for v in row]])
    finally:
        book.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODF_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_ODF_BLOCKS = (f"{{{_ODF_TEXT}}}p", f"{{{_ODF_TEXT}}}h")


def _xml_parser() -> Any:
    from lxml import etree

    # no entities, no network, no huge trees: a hostile file cannot reach out or expand without bound
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def read_odf(stream: BinaryIO, sink: Sink, name: str) -> None:
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(stream) as archive:
        root = etree.fromstring(_bounded_member(archive, "content.xml"), _xml_parser())
    sink.begin(name, "odf")
    slides = 0

    def walk(element: Any) -> None:
        nonlocal slides
        for child in element:
            sink.check()
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == f"{{{_ODF_TEXT}}}h":
                sink.place(f"§ {_odf_text(child).strip()}")
            elif tag == f"{{{_ODF_TEXT}}}p":
                sink.text(clean(_odf_text(child)) + "\n")
            elif tag == f"{{{_ODF_TABLE}}}table":
                sink.place(f"sheet {child.get(f'{{{_ODF_TABLE}}}name') or ''}".strip())
                for row in child.iter(f"{{{_ODF_TABLE}}}table-row"):
                    cells = [_odf_text(c) for c in row.iter(f"{{{_ODF_TABLE}}}table-cell")]
                    _table(sink, [cells])
            elif tag == f"{{{_ODF_DRAW}}}page":
                slides += 1
                sink.place(f"slide {slides}")
                walk(child)
            else:
                walk(child)

    walk(root)


def _odf_text(element: Any) -> str:
    parts: list[str] = []
    for node in element.iter():
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag == f"{{{_ODF_TEXT}}}s":
            parts.append(" " * int(node.get(f"{{{_ODF_TEXT}}}c") or 1))
        elif tag == f"{{{_ODF_TEXT}}}tab":
            parts.append("\t")
        elif tag == f"{{{_ODF_TEXT}}}line-break" or (node is not element and tag in _ODF_BLOCKS):
            parts.append("\n")
        if node.text and tag != "":
            parts.append(node.text)
        if node is not element and node.tail:
            parts.append(node.tail)
    return "".join(parts)


MAX_XML_BYTES = 256 << 20


def _bounded_member(archive: Any, member: str) -> bytes:
    info = archive.getinfo(member)
    if info.file_size > MAX_XML_BYTES:
        raise ValueError(f"{member} would unpack to {info.file_size:,} bytes (the limit is {MAX_XML_BYTES:,})")
    with archive.open(info) as f:
        data = f.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise ValueError(f"{member} unpacks to more than {MAX_XML_BYTES:,} bytes")
    return bytes(data)


def read_epub(stream: BinaryIO, sink: Sink, name: str) -> None:
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(stream) as archive:
        container = etree.fromstring(_bounded_member(archive, "META-INF/container.xml"), _xml_parser())
        rootfile = next((e.get("full-path") for e in container.iter() if str(e.tag).endswith("rootfile")), None)
        if not rootfile:
            raise ValueError("the EPUB names no package file")
        package = etree.fromstring(_bounded_member(archive, rootfile), _xml_parser())
        base = posixpath.dirname(rootfile)
        items = {e.get("id"): e.get("href") for e in package.iter() if str(e.tag).endswith("}item")}
        spine = [items.get(e.get("idref")) for e in package.iter() if str(e.tag).endswith("}itemref")]
        sink.begin(name, "epub")
        for number, href in enumerate((h for h in spine if h), 1):
            sink.check()
            path = posixpath.normpath(posixpath.join(base, href.split("#")[0]))
            try:
                data = _bounded_member(archive, path)
            except KeyError:
                sink.notes.append(f"{name or 'the EPUB'}: chapter file {path} is missing")
                continue
            sink.place(f"ch. {number}")
            html_text(data, sink, headings=False)


_BLOCKS = frozenset((
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article", "header",
    "footer", "nav", "aside", "main", "pre", "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "title", "figure", "figcaption", "form", "fieldset", "address", "details", "summary", "caption",
))
_DROPPED = frozenset(("script", "style", "noscript", "template", "svg", "math", "head", "iframe", "object"))
_CELLS = frozenset(("td", "th"))


def read_html(stream: BinaryIO, sink: Sink, name: str) -> None:
    data = stream.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise ValueError(f"the page is over {MAX_XML_BYTES:,} bytes")
    sink.begin(name, "html")
    html_text(data, sink, headings=True)


def html_text(data: bytes, sink: Sink, headings: bool) -> None:
    """The visible text of an HTML or XHTML page, a line per block; with `headings`, h1-h3 are
    places ("§ heading")."""
    import lxml.html
    from lxml import etree

    if not data.strip():
        return
    try:
        root = lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return
    title = root.findtext(".//title")
    if title and title.strip():
        sink.text(clean(" ".join(title.split())) + "\n")
    buffer: list[str] = []

    def flush() -> None:
        line = clean(" ".join("".join(buffer).split()))
        buffer.clear()
        if line:
            sink.text(line + "\n")

    def walk(element: Any) -> None:
        for child in element:
            tag = child.tag.lower() if isinstance(child.tag, str) else ""
            if tag in _DROPPED or not tag:
                if child.tail:
                    buffer.append(child.tail)
                continue
            if headings and tag in ("h1", "h2", "h3"):
                flush()
                text = " ".join(child.text_content().split())
                if text:
                    sink.place(f"§ {text}")
            else:
                if tag in _BLOCKS:
                    flush()
                    sink.check()
                if child.text:
                    buffer.append(child.text)
                walk(child)
                if tag in _CELLS:
                    buffer.append("\t")
                elif tag in _BLOCKS:
                    flush()
            if child.tail:
                buffer.append(child.tail)

    body = root.find("body")
    walk(body if body is not None else root)
    flush()


def bytes_stream(data: bytes) -> BinaryIO:
    return io.BytesIO(data)
