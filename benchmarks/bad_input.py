"""The bad-input matrix: one folder with a good file of every format beside broken, hostile and
oversized ones, ingested by the real ``kg ingest`` in a child process.

For each (format, failure) it records what the user sees (the one-line error, or the warning of a
bounded partial read), the file's parse time, and checks that every good file was kept, that no
traceback reached the terminal, and that the whole run stayed under a time and memory cap. Prints
one JSON line, appends it to ``benchmarks/results/bad_input.jsonl`` and, with ``--markdown``,
writes the matrix to ``docs/bad_input.md``.

    python benchmarks/bad_input.py --markdown         # the full matrix (100 MB sheets included)
    python benchmarks/bad_input.py --small            # the same cases at small sizes (tests use it)
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bad_input.jsonl"
KG = [sys.executable, "-m", "kg.cli"]
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
          + "]>")
MACRO = b'Attribute VB_Name = "Evil"\nSub AutoOpen()\nShell "touch PWNED"\nEnd Sub\n'


@dataclass
class Case:
    """One file of the matrix: its format, the failure it carries (``""`` for a good file), the
    outcome expected: ``added`` (kept, perhaps with warnings) or ``failed`` (one-line error), and
    for hostile or oversized files a peak-RSS cap."""

    fmt: str
    failure: str
    name: str
    build: Callable[[Path], None]
    expect: str
    rss_cap_mb: int = 0
    """When set, the file is also ingested alone in its own ``kg ingest`` and that process's peak
    RSS must stay under this cap (the documented bound for a hostile or oversized file)."""


# -- builders -----------------------------------------------------------------------------------

def _docx(p: Path, text: str = "Coral bleaching was widespread in 2016.") -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "Reef survey"
    d.add_heading("Results", 1)
    d.add_paragraph(text)
    d.save(str(p))


def _pptx(p: Path) -> None:
    import pptx

    deck = pptx.Presentation()
    s = deck.slides.add_slide(deck.slide_layouts[1])
    s.shapes.title.text = "Graph retrieval"
    s.placeholders[1].text = "Hybrid search fuses BM25 and dense vectors."
    deck.save(str(p))


def _xlsx(p: Path, rows: int = 3) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("papers")
    ws.append(["title", "authors", "year", "doi"])
    for i in range(rows):
        ws.append([f"Paper number {i} on reef ecology", "Ana Lima; Bo Chen", 2000 + i % 25, f"10.1234/reef.{i}"])
    wb.save(str(p))


def _pdf(p: Path, pages: int = 1, text: bool = True) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(612, 792)
    if text:
        from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                                 NameObject("/BaseFont"): NameObject("/Helvetica")})
        page = w.pages[0]
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): w._add_object(font)})})
        s = DecodedStreamObject()
        s.set_data(b"BT /F1 12 Tf 72 700 Td (Sea grass meadows store carbon.) Tj ET")
        page[NameObject("/Contents")] = w._add_object(s)
    with p.open("wb") as f:
        w.write(f)


# Huge images, written byte by byte: an image XObject declares its size, and no PDF library writes
# a JPEG whose header says otherwise.
Image = tuple[int, int, str, bytes]  # width, height, filter (FlateDecode / DCTDecode), stream data


@functools.lru_cache(maxsize=4)
def _deflated_zeros(n: int) -> bytes:
    """``n`` zero bytes deflated (about ``n / 1030`` bytes): an all-black image's pixels."""
    z = zlib.compressobj(6)
    block = bytes(2**24)
    parts = [z.compress(block) for _ in range(n // len(block))]
    return b"".join([*parts, z.compress(bytes(n % len(block))), z.flush()])


def _jpeg(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG (Pillow) whose frame header (SOF0) declares ``width`` x ``height`` pixels."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("RGB", (16, 16), (200, 40, 40)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")  # FF C0, length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _image_pdf(pages: int, image: Callable[[], Image], text: bool) -> Callable[[Path], None]:
    """A PDF of ``pages`` US-letter pages, each drawing its own copy of ``image`` (an RGB image
    stretched over the page) and, with ``text``, one line of text."""
    def build(p: Path) -> None:
        width, height, flt, data = image()
        objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
                             b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
        kids = []
        for i in range(pages):
            ops = b"q 612 0 0 792 0 0 cm /Im0 Do Q" + (b" BT /F1 12 Tf 72 700 Td (Kelp survey page %d.) Tj ET" % i
                                                        if text else b"")
            objs.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                        b"/BitsPerComponent 8 /Filter /%s /Length %d >>\nstream\n%s\nendstream"
                        % (width, height, flt.encode(), len(data), data))
            objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
            objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources "
                        b"<< /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >> >>"
                        % (len(objs), len(objs) - 1))
            kids.append(len(objs))
        objs[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % k for k in kids))
        with p.open("wb") as f:
            f.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
            offsets = []
            for n, body in enumerate(objs, start=1):
                offsets.append(f.tell())
                f.write(b"%d 0 obj\n%s\nendobj\n" % (n, body))
            xref = f.tell()
            f.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
            f.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
            f.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return build


def _flate_image(side: int) -> Callable[[], Image]:
    return lambda: (side, side, "FlateDecode", _deflated_zeros(side * side * 3))


def _jpeg_image(side: int, declared: int | None = None) -> Callable[[], Image]:
    """A JPEG whose header says ``side`` x ``side``; the PDF declares ``declared`` (default: the same)."""
    return lambda: (declared or side, declared or side, "DCTDecode", _jpeg(side, side))


def _encrypt_pdf(p: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    tmp = p.with_suffix(".plain")
    _pdf(tmp)
    w = PdfWriter(clone_from=PdfReader(str(tmp)))
    w.encrypt(user_password="secret", owner_password="owner")
    with p.open("wb") as f:
        w.write(f)
    tmp.unlink()


def _office_encrypted(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        import msoffcrypto  # a real password-protected Office file (ECMA-376 agile encryption)

        plain = p.with_name("plain" + p.suffix)
        make(plain)
        with plain.open("rb") as src, p.open("wb") as dst:
            msoffcrypto.OfficeFile(src).encrypt("secret", dst)  # type: ignore[attr-defined]
        plain.unlink()
    return build


def _truncated(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        make(p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    return build


def _zip_rewrite(make: Callable[[Path], None], member: str, content: bytes,
                 ctype: tuple[bytes, bytes] | None = None) -> Callable[[Path], None]:
    """A valid file of ``make`` with ``member`` replaced (or added), its content type optionally edited."""
    def build(p: Path) -> None:
        src = p.with_name("src" + p.suffix)
        make(src)
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                if info.filename == member:
                    continue
                data = zin.read(info.filename)
                if ctype and info.filename == "[Content_Types].xml":
                    data = data.replace(*ctype)
                zout.writestr(info.filename, data)
            zout.writestr(member, content)
        src.unlink()
    return build


def _write(content: bytes | str) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        p.write_bytes(content.encode() if isinstance(content, str) else content)
    return build


def _big_csv(mb: int) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["station", "depth_m", "temperature_c", "note"])
            row = 0
            while f.tell() < mb * 2**20:
                w.writerows([f"S{row + i}", (row + i) % 40, 24.5, "routine reading at the reef crest"]
                            for i in range(10000))
                row += 10000
    return build


def _one_line(mb: int) -> Callable[[Path], None]:
    """A text file of ``mb`` MiB with no line break (a sparse-free write of repeated words)."""
    def build(p: Path) -> None:
        block = ("reef coral kelp algae survey " * 40_000).encode()  # ~1.2 MB, no newline
        with p.open("wb") as f:
            while f.tell() < mb * 2**20:
                f.write(block[: mb * 2**20 - f.tell()])
    return build


def _zip_member_bomb(make: Callable[[Path], None], member: str, head: bytes, tail: bytes,
                     mib: int) -> Callable[[Path], None]:
    """A valid file of ``make`` whose ``member`` is replaced by ``head``, ``mib`` MiB of blanks and
    ``tail`` (well-formed XML that inflates a thousandfold: a ZIP bomb in an Office/EPUB container)."""
    def build(p: Path) -> None:
        src = p.with_name("src" + p.suffix)
        make(src)
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                if info.filename != member:
                    zout.writestr(info, zin.read(info.filename))
            with zout.open(member, "w", force_zip64=True) as m:
                m.write(head)
                block = b" " * 2**20
                for _ in range(mib):
                    m.write(block)
                m.write(tail)
        src.unlink()
    return build


def _zip_bomb(p: Path) -> None:
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z, \
            z.open("zeros.txt", "w", force_zip64=True) as m:
        block = b"\0" * 2**20
        for _ in range(1024):  # 1 GiB inflated, ~1 MiB on disk
            m.write(block)


def _good_zip(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("notes/reef.md", "# Reef\n\nCorals and algae.\n")


def _traversal_zip(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("../../escaped.md", "# Escaped\n\nThis member tries to leave its folder.\n")
        z.writestr("ok/notes.md", "# Kept\n\nA member that stays inside.\n")


def _traversal_tar(p: Path) -> None:
    with tarfile.open(p, "w") as t:
        for name, body in (("../../escaped.md", b"# Escaped\n"), ("/etc/evil.md", b"# Absolute\n")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("passwd.md")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)


def _epub(p: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("kg-bad-input")
    book.set_title("Field notes")
    book.add_author("Ana Lima")
    ch = epub.EpubHtml(title="One", file_name="one.xhtml", content="<h1>One</h1><p>Kelp forests grow fast.</p>")
    book.add_item(ch)
    book.toc = [ch]
    book.spine = ["nav", ch]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(p), book)


def _notebook(p: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"title": "Reef analysis", "authors": [{"name": "Bo Chen"}]})
    nb.cells = [nbformat.v4.new_markdown_cell("# Reef analysis\nSurvey counts."), nbformat.v4.new_code_cell("x = 1")]
    p.write_text(nbformat.writes(nb))


GOOD_MAIL = ("From: Ana Lima <ana@example.org>\nTo: Bo Chen <bo@example.org>\nSubject: Survey dates\n"
             "Message-ID: <m1@example.org>\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n\nThe survey starts on Monday.\n")
BROKEN_MIME = ("From: Ana Lima <ana@example.org>\nSubject: =?utf-8?B?broken?=\nMIME-Version: 1.0\n"
               'Content-Type: multipart/mixed; boundary="never-closed"\n\n--never-closed\n'
               "Content-Type: text/plain; charset=no-such-charset\nContent-Transfer-Encoding: base64\n\n"
               "!!!not base64!!!\n--never-closed\nContent-Type: application/pdf\n"
               "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJeLjz9MK\n")


def cases(small: bool) -> list[Case]:
    """Every (format, failure) of the matrix; ``small`` shrinks the oversized ones."""
    sheet_mb = 2 if small else 100
    deep = 10**4 if small else 10**5
    bib_n = 10**4 if small else 10**6  # tests/test_reader_bibtex.py ingests the 10**6 file alone
    pages = 500 if small else 10**5
    scans = 3 if small else 60  # image-only pages of 49 megapixels: OCR'd (at most 50 per file)
    bomb_mib = 300 if small else 1024  # a ZIP member of blanks: over the 256 MiB a member may inflate to
    xlsx_rows = 2000 if small else 300_000
    line_mb = 8 if small else 300  # read, and cut at MAX_DOCUMENT_CHARS
    huge_mb = 600 if small else 1024  # over kg ingest's --max-file-mb (512): refused unread
    odt_bomb = _zip_rewrite(_odt, "content.xml", (LAUGHS + "<office:document-content>&lol9;"
                                                  "</office:document-content>").encode())
    return [
        Case("pdf", "", "good.pdf", _pdf, "added"),
        Case("pdf", "password-protected", "locked.pdf", _encrypt_pdf, "failed"),
        Case("pdf", "truncated", "cut.pdf", _truncated(_pdf), "failed"),
        Case("pdf", "not a PDF", "fake.pdf", _write(b"%PDF-1.7\nthis is not really a PDF\n%%EOF\n"), "failed"),
        Case("pdf", f"{pages:,} pages", "long.pdf", lambda p: _pdf(p, pages=pages), "added", 1024),
        Case("pdf", "20000x20000 px image (1.2 GB decoded) beside text", "image-text.pdf",
             _image_pdf(1, _flate_image(20000), text=True), "added", 512),
        Case("pdf", "20000x20000 px image alone on its page (OCR path)", "image-only.pdf",
             _image_pdf(1, _flate_image(20000), text=False), "failed", 512),
        Case("pdf", "JPEG declaring 65000x65000 px alone on its page", "jpeg-huge.pdf",
             _image_pdf(1, _jpeg_image(65000), text=False), "failed", 512),
        Case("pdf", "JPEG header 65000x65000 px in a 100x100 px image (OCR path)", "jpeg-lie.pdf",
             _image_pdf(1, _jpeg_image(65000, declared=100), text=False), "failed", 512),
        Case("pdf", f"{scans} image-only pages of 7000x7000 px (OCR path)", "scans.pdf",
             _image_pdf(scans, _flate_image(7000), text=False), "failed", 1024),
        Case("pdf", "50 pages, each a 10000x10000 px image (15 GB decoded) and text", "images.pdf",
             _image_pdf(50, _flate_image(10000), text=True), "added", 512),
        Case("docx", "", "good.docx", _docx, "added"),
        Case("docx", "password-protected", "locked.docx", _office_encrypted(_docx), "failed"),
        Case("docx", "truncated ZIP", "cut.docx", _truncated(_docx), "failed"),
        Case("docx", "XML entity bomb", "laughs.docx", _zip_rewrite(
            _docx, "word/document.xml", (LAUGHS + '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                                           "<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
                                           ).encode()), "failed", 512),
        Case("docx", f"ZIP bomb ({bomb_mib:,} MiB document.xml)", "bomb.docx", _zip_member_bomb(
            _docx, "word/document.xml", b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
            b'2006/main"><w:body><w:p><w:r><w:t>', b"</w:t></w:r></w:p></w:body></w:document>", bomb_mib),
             "failed", 512),
        Case("docx", "macro-enabled (.docm)", "macro.docm", _zip_rewrite(
            _docx, "word/vbaProject.bin", MACRO, (b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                                                  b"application/vnd.ms-word.document.macroEnabled.main+xml")), "added"),
        Case("odt", "", "good.odt", _odt, "added"),
        Case("odt", "XML entity bomb", "laughs.odt", odt_bomb, "failed", 512),
        Case("odt", f"ZIP bomb ({bomb_mib:,} MiB content.xml)", "bomb.odt", _zip_member_bomb(
            _odt, "content.xml", b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
            b'office:1.0"><office:body><office:text>', b"</office:text></office:body></office:document-content>",
            bomb_mib), "failed", 512),
        Case("rtf", "", "good.rtf", _write("{\\rtf1\\ansi {\\b Reef survey}\\par Kelp grows fast.}"), "added"),
        Case("rtf", "unbalanced groups", "broken.rtf", _write("{\\rtf1\\ansi {\\b Reef {{{ text"), "added"),
        Case("pptx", "", "good.pptx", _pptx, "added"),
        Case("pptx", "password-protected", "locked.pptx", _office_encrypted(_pptx), "failed"),
        Case("pptx", "truncated ZIP", "cut.pptx", _truncated(_pptx), "failed"),
        Case("pptx", f"ZIP bomb ({bomb_mib:,} MiB slide)", "bomb.pptx", _zip_member_bomb(
            _pptx, "ppt/slides/slide1.xml", b'<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/'
            b'main"><p:cSld><p:spTree>', b"</p:spTree></p:cSld></p:sld>", bomb_mib), "failed", 512),
        Case("xlsx", "", "good.xlsx", _xlsx, "added"),
        Case("xlsx", "password-protected", "locked.xlsx", _office_encrypted(_xlsx), "failed"),
        Case("xlsx", f"{xlsx_rows:,} rows", "big.xlsx", lambda p: _xlsx(p, xlsx_rows), "added", 2048),
        Case("xlsx", f"ZIP bomb ({bomb_mib:,} MiB sheet)", "bomb.xlsx", _zip_member_bomb(
            _xlsx, "xl/worksheets/sheet1.xml", b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            b'2006/main"><sheetData>', b"</sheetData></worksheet>", bomb_mib), "failed", 512),
        Case("csv", "", "papers.csv", _write("title,authors,year\nReef ecology today,Ana Lima,2021\n"), "added"),
        Case("csv", f"{sheet_mb} MB sheet", "big.csv", _big_csv(sheet_mb), "added", 2048),
        Case("csv", "Latin-1 text", "latin1.csv", _write("station,note\nS1,café au bord de l'eau\n".encode("latin-1")),
             "added"),
        Case("eml", "", "good.eml", _write(GOOD_MAIL), "added"),
        Case("eml", "broken MIME", "broken.eml", _write(BROKEN_MIME), "added"),
        Case("mbox", "one broken message", "list.mbox", _write(
            "From ana@example.org Mon Mar  2 10:00:00 2026\n" + GOOD_MAIL + "\n"
            "From x Mon Mar  2 10:00:00 2026\n\x00\x00 not a header\n"), "added"),
        Case("epub", "", "good.epub", _epub, "added"),
        Case("epub", "DRM (encryption.xml)", "drm.epub", _zip_rewrite(
            _epub, "META-INF/encryption.xml",
            b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            b'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
            b'<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
            b'<enc:CipherData><enc:CipherReference URI="EPUB/one.xhtml"/></enc:CipherData>'
            b"</enc:EncryptedData></encryption>"), "failed"),
        Case("epub", f"ZIP bomb ({bomb_mib:,} MiB chapter)", "bomb.epub", _zip_member_bomb(
            _epub, "EPUB/one.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>', b"</p></body></html>",
            bomb_mib), "failed", 512),
        Case("ipynb", "", "good.ipynb", _notebook, "added"),
        Case("ipynb", "invalid JSON", "broken.ipynb", _write('{"cells": [ {"cell_type": "markdown", '), "failed"),
        Case("jsonl", f"a record nested {deep:,} levels", "deep.jsonl", _write(
            '{"paper_id": "1", "title": "A shallow record on reef ecology", "authors": [], "year": 2020}\n'
            '{"paper_id": "2", "title": "Deep", "authors": ' + "[" * deep + "]" * deep + "}\n"), "added", 512),
        Case("bib", f"{bib_n:,} entries", "huge.bib", _write("".join(
            f"@article{{k{i}, title={{Entry {i} on reef ecology}}, year={{2001}}}}\n" for i in range(bib_n))), "added",
             1024),
        Case("tex", "", "good.tex", _write("\\documentclass{article}\\title{Reef survey}\\author{Ana Lima}"
                                           "\\begin{document}\\maketitle\\begin{abstract}Kelp.\\end{abstract}"
                                           "\\end{document}"), "added"),
        Case("tex", "unbalanced braces", "broken.tex", _write(
            "\\documentclass{article}\\title{Reef {survey\\begin{document}\\maketitle Text"), "added"),
        Case("md", "", "notes.md", _write("---\ntitle: Field notes\n---\n# Field notes\n\nReef crest.\n"), "added"),
        Case("md", "YAML alias bomb", "SKILL.md", _write(
            "---\nname: bomb\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
            "metadata: {i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]}\n---\n# Bomb\n"),
             "failed", 512),
        Case("txt", "", "good.txt", _write("Seagrass meadows store carbon.\n"), "added"),
        Case("txt", "Latin-1 text", "latin1.txt", _write("Le récif corallien était blanchi.\n".encode("latin-1")),
             "added"),
        Case("txt", "binary bytes", "binary.txt", _write(bytes(range(256)) * 64), "failed"),
        Case("txt", f"{line_mb} MB on one line", "one-line.txt", _one_line(line_mb), "added", 1024),
        Case("txt", f"{huge_mb:,} MB on one line", "huge.txt", _one_line(huge_mb), "failed", 512),
        Case("zip", "", "good.zip", _good_zip, "added"),
        Case("zip", "path traversal (../)", "escape.zip", _traversal_zip, "added"),
        Case("tar", "traversal, absolute path, symlink", "escape.tar", _traversal_tar, "added"),
        Case("zip", "zip bomb (1 GiB of zeros)", "bomb.zip", _zip_bomb, "added", 512),
        Case("zip", "not a ZIP", "fake.zip", _write(b"PK\x03\x04 this is not a zip"), "failed"),
    ]


def _odt(p: Path) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    doc = OpenDocumentText()
    doc.text.addElement(P(text="Mangroves protect coasts."))
    doc.save(str(p))


def run(small: bool, keep: Path | None = None) -> dict:
    """Build the folder, ingest it with ``kg ingest --json``, and return the measured matrix."""
    work = Path(tempfile.mkdtemp(prefix="kg-bad-input-"))
    folder = work / "folder"
    folder.mkdir()
    all_cases = cases(small)
    for i, c in enumerate(all_cases):
        sub = folder / f"{i:02d}-{c.fmt}"
        sub.mkdir()
        c.build(sub / c.name)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([*KG, "ingest", str(folder), "--store", str(work / "store"), "--json", "--no-embed"],
                          capture_output=True, text=True, cwd=work, env=env, timeout=1800)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if not proc.stdout.strip():
        raise SystemExit(f"kg ingest printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    by_path = {Path(f["path"]).relative_to(folder).parts[0]: f for f in report["files"]
               if Path(f["path"]).is_relative_to(folder)}
    rows, wrong = [], []
    for i, c in enumerate(all_cases):
        f = by_path.get(f"{i:02d}-{c.fmt}", {})
        status = f.get("status", "missing")
        msg = "; ".join(f.get("errors") or f.get("warnings") or [])
        ok = status == c.expect or (c.expect == "added" and status in ("updated", "partial"))
        rows.append({"format": c.fmt, "failure": c.failure or "(good file)", "status": status, "message": msg,
                     "nodes": f.get("nodes", 0), "seconds": round(f.get("seconds", 0.0), 3),
                     "bytes": (folder / f"{i:02d}-{c.fmt}" / c.name).stat().st_size, "as_expected": ok})
        if not ok:
            wrong.append(f"{c.fmt}/{c.failure or 'good'}: {status} ({msg})")
    for i, c in enumerate(all_cases):  # hostile files alone: each in its own process, its own peak RSS
        if c.rss_cap_mb:
            rss = _alone_rss_mb(folder / f"{i:02d}-{c.fmt}" / c.name, work / f"alone-{i}", env)
            rows[i].update(rss_mb=rss, rss_cap_mb=c.rss_cap_mb)
            if rss > c.rss_cap_mb:
                wrong.append(f"{c.fmt}/{c.failure}: peak RSS {rss} MB over its cap of {c.rss_cap_mb} MB")
    escaped = [p for p in work.rglob("*escaped*")] + list(Path("/etc").glob("evil.md"))
    pwned = list(work.rglob("PWNED"))
    out = {"bench": "bad_input", "small": small, "files": len(all_cases), "wall_s": round(wall, 2),
           "peak_rss_mb": round(peak_mb, 1), "exit_code": proc.returncode,
           "traceback": "Traceback" in proc.stderr, "escaped_files": [str(p) for p in escaped],
           "macro_ran": bool(pwned), "unexpected": wrong, "load_avg_1m": round(os.getloadavg()[0], 2),
           "rows": rows}
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return out


_HWM = """
import atexit, sys

def _hwm(out=sys.argv[1]):  # this process's own peak RSS (VmHWM: not the parent's image before exec)
    with open("/proc/self/status") as f:
        kb = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(out, "w") as f:
        f.write(kb)

atexit.register(_hwm)
sys.argv = ["kg", *sys.argv[2:]]
from kg.cli import main

main()
"""


def _alone_rss_mb(path: Path, store: Path, env: dict[str, str]) -> float:
    """Peak RSS (MB) of ``kg ingest PATH`` run on its own (one file is parsed in that process),
    read from the process's ``VmHWM`` as it exits (``ru_maxrss`` would count the forking parent)."""
    out = store.with_suffix(".hwm")
    subprocess.run([sys.executable, "-c", _HWM, str(out), "ingest", str(path), "--store", str(store), "--json",
                    "--no-embed"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=store.parent,
                   timeout=1800)
    return round(int(out.read_text()) / 1024, 1)


def markdown(res: dict) -> str:
    """The matrix as the Markdown page docs/bad_input.md."""
    lines = ["# Bad input: what each broken file gives", "",
             "Generated by `python benchmarks/bad_input.py --markdown` (do not edit by hand): one folder with a",
             "good file of each format beside broken, hostile and oversized ones, ingested by `kg ingest`.",
             f"All {res['files']} files in {res['wall_s']} s, peak RSS {res['peak_rss_mb']} MB; every good file kept; "
             f"traceback printed: {'yes' if res['traceback'] else 'no'}; files written outside the folder: "
             f"{len(res['escaped_files'])}; macros run: {'yes' if res['macro_ran'] else 'no'} "
             f"(2-core machine, load average {res['load_avg_1m']} at the end of the run).", "",
             "Files with an RSS cap were also ingested alone, each by its own `kg ingest`, whose peak RSS",
             "(the interpreter and kgloom's imports included: "
             f"{min(r.get('rss_mb', 1e9) for r in res['rows']):,.0f} MB for the smallest) must stay under the cap.",
             "Parse times include the imports a reader needs the first time (OCR's pytesseract imports pandas).", "",
             "| format | failure | outcome | message (warnings for a kept file) | size | parse s | peak RSS alone (cap) |",
             "|---|---|---|---|---:|---:|---:|"]
    for r in res["rows"]:
        size = f"{r['bytes'] / 2**20:.1f} MB" if r["bytes"] > 2**20 else f"{r['bytes'] / 1024:.1f} KB"
        msg = r["message"].replace("|", "\\|")[:220]
        rss = f"{r['rss_mb']:,.0f} MB ({r['rss_cap_mb']:,})" if "rss_mb" in r else ""
        lines.append(f"| {r['format']} | {r['failure']} | {r['status']} | {msg} | {size} | {r['seconds']} | {rss} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="small sizes for the oversized cases (fast)")
    ap.add_argument("--markdown", action="store_true", help="write docs/bad_input.md")
    ap.add_argument("--no-save", action="store_true", help="do not append to benchmarks/results")
    args = ap.parse_args()
    res = run(args.small)
    line = json.dumps(res)
    print(line)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as f:
            f.write(line + "\n")
    if args.markdown:
        (ROOT / "docs" / "bad_input.md").write_text(markdown(res))
    bad = res["unexpected"] or res["traceback"] or res["escaped_files"] or res["macro_ran"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
