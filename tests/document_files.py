"""Real files of every document format, written by the libraries that write them (fpdf2,
python-docx, python-pptx, openpyxl) or by the standard library (OpenDocument, EPUB, e-mail,
archives), for the extraction tests and the documents benchmark."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path


def pdf(path: Path, pages: Sequence[str]) -> Path:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("helvetica", size=11)
    for text in pages:
        doc.add_page()
        if text:
            doc.multi_cell(0, 6, text)
    doc.output(str(path))
    return path


def docx(path: Path, sections: Sequence[tuple[str, str]], table: Sequence[Sequence[str]] = ()) -> Path:
    import docx as python_docx

    document = python_docx.Document()
    for heading, body in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(body)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.save(str(path))
    return path


def pptx(path: Path, slides: Sequence[tuple[str, str]], notes: str = "") -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    book.save(str(path))
    return path


_ODT_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:text>{body}</office:text></office:body></office:document-content>"""


def odt(path: Path, sections: Sequence[tuple[str, str]]) -> Path:
    from xml.sax.saxutils import escape

    body = "".join(f'<text:h text:outline-level="1">{escape(h)}</text:h><text:p>{escape(p)}</text:p>'
                   for h, p in sections)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", _ODT_CONTENT.format(body=body))
        z.writestr("META-INF/manifest.xml", "<manifest/>")
    return path


def epub(path: Path, chapters: Sequence[tuple[str, str]]) -> Path:
    from xml.sax.saxutils import escape

    items = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
                    for i in range(len(chapters)))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        z.writestr("META-INF/container.xml",
                   '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                   '<rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>')
        z.writestr("OEBPS/content.opf",
                   f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf"><manifest>{items}'
                   f'</manifest><spine>{spine}</spine></package>')
        for i, (title, text) in enumerate(chapters):
            z.writestr(f"OEBPS/c{i}.xhtml",
                       f'<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>{escape(title)}</h1>'
                       f"<p>{escape(text)}</p></body></html>")
    return path


def eml(path: Path, subject: str, body: str, attachments: Sequence[tuple[str, bytes]] = ()) -> Path:
    path.write_bytes(message(subject, body, attachments))
    return path


def message(subject: str, body: str, attachments: Sequence[tuple[str, bytes]] = ()) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ada <ada@example.org>"
    msg["To"] = "ops@example.org"
    msg["Date"] = "Mon, 2 Nov 2026 10:00:00 +0000"
    msg["Subject"] = subject
    msg.set_content(body)
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def mbox(path: Path, messages: Sequence[tuple[str, str]]) -> Path:
    parts = [b"From ada@example.org Mon Nov  2 10:00:00 2026\n" + message(s, b) + b"\n" for s, b in messages]
    path.write_bytes(b"".join(parts))
    return path


def compressed(path: Path, data: bytes) -> Path:
    suffix = path.suffix
    if suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    elif suffix == ".bz2":
        path.write_bytes(bz2.compress(data))
    elif suffix == ".xz":
        path.write_bytes(lzma.compress(data))
    elif suffix == ".zst":
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        raise ValueError(suffix)
    return path


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def tar_of(path: Path, members: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path
