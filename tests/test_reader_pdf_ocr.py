"""Scanned PDFs: pages without a text layer are OCR'd (``ocr`` extra + Debian's tesseract), or warned about.

The scans are rendered here: text drawn with PIL in matplotlib's bundled DejaVuSans.ttf, saved by
PIL as an image-only PDF.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ingest.readers import pdf_ocr
from ingest.readers.pdf import Engine, PdfReader
from kg.errors import ReaderError
from kg.model import Label, ReadResult

KG = Path(sys.executable).with_name("kg")
HINT = "install kgloom[ocr] and tesseract-ocr to OCR them"
PAPER = [(64, "Scanned Lighthouse Studies"), (36, "Ada Quillfeather and Bram Osterloh"), (36, "Abstract"),
         (30, "We measure how quickly lighthouse keepers"), (30, "answer foghorn signals in winter storms."),
         (36, "1 Introduction"), (30, "Lighthouses guide ships along rocky coasts.")]
WHY_NO_OCR = pdf_ocr.unavailable()
needs_ocr = pytest.mark.skipif(WHY_NO_OCR is not None, reason=f"OCR unavailable: {WHY_NO_OCR}")


def scan(*pages: list[tuple[int, str]]) -> bytes:
    """An image-only PDF (US letter at 200 dpi), one page per list of (pixel size, text) lines."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    images = []
    for lines in pages:
        img = Image.new("L", (1700, 2200), 255)
        draw, y = ImageDraw.Draw(img), 150
        for size, text in lines:
            draw.text((150, y), text, font=ImageFont.truetype(str(font), size), fill=0)
            y += int(size * 1.6)
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", resolution=200, save_all=True, append_images=images[1:])
    return buf.getvalue()


def with_text_page(scanned: bytes) -> bytes:
    """A text page (a tiny paper's front matter) followed by the scanned pages."""
    from pypdf import PdfReader as PypdfReader
    from pypdf import PdfWriter
    from test_reader_pdf import make_pdf, text_ops

    text = make_pdf(text_ops((20, 700, "A Paper With Scanned Appendix"), (12, 670, "Jane Doe and John Smith"),
                             (12, 640, "Abstract"), (10, 620, "Words typed into the PDF.")))
    w = PdfWriter()
    for src in (text, scanned):
        for page in PypdfReader(io.BytesIO(src)).pages:
            w.add_page(page)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def read(data: bytes, reader: PdfReader | None = None) -> ReadResult:
    return (reader or PdfReader()).read(Path("scan.pdf"), data)


def text_of(res: ReadResult) -> str:
    return " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)


@needs_ocr
@pytest.mark.parametrize("engine", ["auto", "pdfminer"])
def test_a_scanned_paper_is_read_by_ocr(engine: Engine) -> None:
    res = read(scan(PAPER), PdfReader(engine=engine))
    paper = next(n for n in res.nodes if n.label == Label.PAPER)
    assert paper.properties["title"] == "Scanned Lighthouse Studies"
    assert paper.properties["abstract"] == \
        "We measure how quickly lighthouse keepers answer foghorn signals in winter storms."
    assert sorted(n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR) == \
        ["Ada Quillfeather", "Bram Osterloh"]
    assert res.warnings == ["1 page(s) without a text layer were read by OCR (tesseract)"]


@needs_ocr
def test_ocr_page_cap() -> None:
    data = with_text_page(scan([(40, "Foghorn appendix one")], [(40, "Foghorn appendix two")]))
    res = read(data, PdfReader(max_ocr_pages=1))
    assert "Words typed into the PDF" in text_of(res) and "appendix one" in text_of(res)
    assert "appendix two" not in text_of(res)
    assert res.warnings == ["OCR stopped after 1 of 2 page(s) without a text layer (max_ocr_pages=1)",
                            "1 page(s) without a text layer were read by OCR (tesseract)"]


@needs_ocr
def test_ocr_stops_at_the_time_budget() -> None:
    with pytest.raises(ReaderError) as ei:
        read(scan(PAPER), PdfReader(time_budget_s=0))
    assert str(ei.value) == "OCR stopped after 0 of 1 page(s) without a text layer (time budget)"


@pytest.mark.parametrize("missing", ["pytesseract", "tesseract"])
def test_without_ocr_a_warning_says_how_to_enable_it(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    if missing == "pytesseract":
        monkeypatch.setitem(sys.modules, "pytesseract", None)  # as if the extra were not installed
    else:
        pytesseract = pytest.importorskip("pytesseract")
        monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    assert pdf_ocr.unavailable() is not None
    # an image-only PDF: a clear one-line error
    with pytest.raises(ReaderError) as ei:
        read(scan(PAPER))
    assert str(ei.value) == f"1 page(s) have no text layer; {HINT}"
    # other text in the file: kept, with one warning
    res = read(with_text_page(scan([(40, "Foghorn appendix")], [(40, "Second scanned page")])))
    assert "Words typed into the PDF" in text_of(res)
    assert res.warnings == [f"2 page(s) have no text layer; {HINT}"]


def test_ocr_can_be_turned_off() -> None:
    res = read(with_text_page(scan([(40, "Foghorn appendix")])), PdfReader(ocr=False))
    assert res.warnings == [f"1 page(s) have no text layer; {HINT}"]


@needs_ocr
@pytest.mark.timeout(300)
def test_ocr_words_are_searchable_after_kg_ingest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lighthouse.pdf").write_bytes(scan(PAPER))
    store = str(tmp_path / "store")
    run = subprocess.run([str(KG), "ingest", str(docs), "--store", store, "--no-embed", "--json"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    files = json.loads(run.stdout)["files"]
    assert [f["warnings"] for f in files] == [["1 page(s) without a text layer were read by OCR (tesseract)"]]
    run = subprocess.run([str(KG), "search", "foghorn winter storms", "--store", store, "--mode", "bm25", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    hits = json.loads(run.stdout)["hits"]
    assert hits and "foghorn" in json.dumps(hits[0]).lower()


# ---------------------------------------------------------------------------- huge images

def image_pdf(*pages: tuple[int, int, bytes, bytes], text: bytes = b"") -> bytes:
    """US-letter pages, each drawing one RGB image that declares (width, height) pixels, with its
    filter and stream data as given (a JPEG's own header may say otherwise), then ``text`` ops."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for width, height, flt, data in pages:
        ops = b"q 612 0 0 792 0 0 cm /Im0 Do Q " + text
        objs.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                    b"/BitsPerComponent 8 /Filter /%s /Length %d >>\nstream\n%s\nendstream"
                    % (width, height, flt, len(data), data))
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources "
                    b"<< /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >> >>" % (len(objs), len(objs) - 1))
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(kids), b" ".join(b"%d 0 R" % k for k in kids))
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return bytes(out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))


ZEROS = zlib.compress(bytes(2**20))  # the first MiB of a black image: the declared size is what counts


def jpeg(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG whose frame header (SOF0) says ``width`` x ``height``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_image_pixels_are_read_from_the_image_dictionary() -> None:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(image_pdf((20000, 20000, b"FlateDecode", ZEROS), (65000, 65000, b"DCTDecode",
                                                                                  jpeg(65000, 65000))))
    try:
        assert [pdf_ocr.image_pixels(doc[i]) for i in range(2)] == [400_000_000, 4_225_000_000]
    finally:
        doc.close()


@needs_ocr
def test_pages_with_huge_images_are_not_rendered_for_ocr() -> None:
    data = image_pdf((20000, 20000, b"FlateDecode", ZEROS), (65000, 65000, b"DCTDecode", jpeg(65000, 65000)))
    with pytest.raises(ReaderError) as ei:
        read(data)
    assert str(ei.value) == ("2 page(s) without a text layer not OCR'd: their images hold over 50,000,000 pixels "
                             "(first: page 1: 400,000,000)")
    # beside text, the image is not decoded at all: the text is read, no OCR is tried
    res = read(image_pdf((20000, 20000, b"FlateDecode", ZEROS), text=b"BT /F1 12 Tf 72 700 Td (Kelp grows.) Tj ET"))
    assert "Kelp grows." in text_of(res) and res.warnings == []


@needs_ocr
def test_the_pixel_cap_applies_to_real_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_ocr, "MAX_IMAGE_PIXELS", 1000)
    res = read(with_text_page(scan([(40, "Foghorn appendix")])))
    assert "Words typed into the PDF" in text_of(res) and "Foghorn" not in text_of(res)
    assert res.warnings == ["1 page(s) without a text layer not OCR'd: their images hold over 1,000 pixels "
                            "(first: page 2: 3,740,000)"]


@needs_ocr
def test_a_scan_without_words_says_so() -> None:
    with pytest.raises(ReaderError) as ei:
        read(scan([]))
    assert str(ei.value) == "no extractable text (OCR found no words on the 1 page(s) without a text layer)"
