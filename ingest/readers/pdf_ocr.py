"""OCR of PDF pages that have images but no text layer (scans), with tesseract.

Needs the ``ocr`` extra (pytesseract, pillow) and Debian's ``tesseract-ocr`` binary; nothing is
downloaded at run time. Each such page is rendered with PDFium at :data:`DPI` (at most
:data:`MAX_PIXELS` on its long side) and read by ``tesseract`` (``image_to_data``): its words, grouped
into tesseract's lines and paragraphs, become :class:`Line` objects in PDF points, the line height
standing in for the font size, so the layout heuristics find titles and abstracts in scans too.
Without OCR the pages are counted in one warning that says how to enable it. A page whose images
hold more than :data:`MAX_IMAGE_PIXELS` pixels is not rendered (decoding them would take gigabytes).
"""

from __future__ import annotations

import time
from typing import Any

from ingest.readers.pdf_layout import Line, PdfText, one_line
from kg.errors import KGError, require

DPI = 200
"""Rendering resolution for OCR."""
MAX_PIXELS = 4000
"""Longest side of a rendered page in pixels (huge pages are rendered at a lower resolution)."""
MAX_IMAGE_PIXELS = 50_000_000
"""Pixels (width x height, summed over the page's images) of a page rendered for OCR. PDFium decodes
each image in full to draw it, whatever the scale (a 20000 x 20000 RGB image: 1.2 GB), so a page
over this is not OCR'd (a warning); a 600 dpi A4 colour scan has 35 million."""
HINT = "install kgloom[ocr] and tesseract-ocr to OCR them"


def unavailable() -> str | None:
    """Why OCR cannot run here (pytesseract or the tesseract binary missing), or None when it can."""
    try:
        pytesseract = require("pytesseract", "ocr", "OCR of scanned PDFs")
        require("PIL", "ocr", "OCR of scanned PDFs")
    except KGError as e:
        return str(e)
    try:
        pytesseract.get_tesseract_version()
    except Exception as e:  # TesseractNotFoundError, or a broken binary
        return one_line(e)
    return None


def _lines(data: dict[str, list[Any]], page: int, scale: float, height: float) -> list[list[Line]]:
    """tesseract's words grouped by (block, paragraph, line) into paragraphs of :class:`Line`."""
    words: dict[tuple[int, int], dict[int, list[int]]] = {}
    for k, word in enumerate(data["text"]):
        if str(word).strip() and float(data["conf"][k]) >= 0:
            key = (int(data["block_num"][k]), int(data["par_num"][k]))
            words.setdefault(key, {}).setdefault(int(data["line_num"][k]), []).append(k)
    out: list[list[Line]] = []
    for lines in words.values():
        para: list[Line] = []
        for ks in lines.values():
            left = min(data["left"][k] for k in ks) / scale
            right = max(data["left"][k] + data["width"][k] for k in ks) / scale
            top = min(data["top"][k] for k in ks) / scale
            bottom = max(data["top"][k] + data["height"][k] for k in ks) / scale
            size = round(max(data["height"][k] for k in ks) / scale, 0)
            text = " ".join(str(data["text"][k]).strip() for k in sorted(ks, key=lambda k: data["left"][k]))
            para.append(Line(page, left, height - bottom, right, height - top, size, text, text))
        out.append(para)
    return out


def ocr_pages(p: PdfText, data: bytes, *, enabled: bool, max_pages: int, deadline: float) -> None:
    """OCR ``p.image_only`` pages in place (their lines and paragraphs), or warn why not.

    At most ``max_pages`` pages are OCR'd, none is started after ``deadline`` (``time.monotonic()``),
    and tesseract is stopped at it; each cut is a warning.
    """
    todo = p.image_only
    why = unavailable() if enabled else "OCR is off"
    if why is not None:
        p.warnings.append(f"{len(todo)} page(s) have no text layer; {HINT}")
        return
    pytesseract = require("pytesseract", "ocr", "OCR of scanned PDF pages")

    from ingest.readers.pdf_pdfium import LOCK, open_pdf

    with LOCK:
        doc = open_pdf(data)
    done, failed, too_big, n_big = 0, "", "", 0
    try:
        for pos, index in todo:
            left = deadline - time.monotonic()
            if done >= max_pages or left <= 0:
                why = f"max_ocr_pages={max_pages}" if done >= max_pages else "time budget"
                p.warnings.append(f"OCR stopped after {done} of {len(todo)} page(s) without a text layer ({why})")
                break
            try:
                with LOCK:
                    page = doc[index]
                    try:
                        width, height = page.get_size()
                        if (pixels := image_pixels(page)) > MAX_IMAGE_PIXELS:
                            too_big, n_big = too_big or f"page {index + 1}: {pixels:,}", n_big + 1
                            continue
                        scale = min(DPI / 72, MAX_PIXELS / max(width, height, 1.0))
                        image = page.render(scale=scale, grayscale=True).to_pil()
                    finally:
                        page.close()
                words = pytesseract.image_to_data(image, output_type=pytesseract.Output.DICT,
                                                  timeout=max(left, 1.0))
            except Exception as e:  # tesseract's timeout (RuntimeError), a render failure...
                failed = failed or f"page {index + 1}: {one_line(e)}"
                continue
            paras = _lines(words, pos, scale, height)
            p.pages[pos] = [ln for para in paras for ln in para]
            p.paragraphs[pos] = ["\n".join(ln.text for ln in para) for para in paras]
            done += 1
    finally:
        with LOCK:
            doc.close()
    if n_big:
        p.warnings.append(f"{n_big} page(s) without a text layer not OCR'd: their images hold over "
                          f"{MAX_IMAGE_PIXELS:,} pixels (first: {too_big})")
    if done:
        p.warnings.append(f"{done} page(s) without a text layer were read by OCR (tesseract)")
    if failed:
        p.warnings.append(f"OCR failed on some pages (first: {failed})")


def image_pixels(page: Any) -> int:
    """Pixels (width x height) of the images a ``pypdfium2.PdfPage`` draws, in forms too, read from
    the image dictionaries without decoding them (an image whose size PDFium cannot read counts 0)."""
    import pypdfium2.raw as raw

    total = 0
    for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        try:
            w, h = obj.get_px_size()
        except Exception:  # PdfiumError: no size, nothing PDFium could draw either
            continue
        total += w * h
    return total
