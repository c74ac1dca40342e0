"""PDF text with pypdfium2 (PDFium): the default, fast extractor of the ``pdf`` reader.

PDFium gives each page's characters in drawing order, with ``\\r\\n`` where it sees a new line, and
per character a box (``FPDFText_GetLooseCharBox``: font ascent to descent, like pdfminer's) and a
font size (``FPDFText_GetFontSize``). From these this module builds the same :class:`Line` objects as
the pdfminer extractor, two ways:

- page 1 (:func:`_full_lines`): every character's box and size. Lines are split at PDFium's breaks
  and where the pen jumps to another line without one (PDFium joins lines at a hyphen), pieces on
  one baseline are merged (PDFium breaks a line after a superscript), superscripts (smaller or
  raised) and wide gaps are marked ``|`` for author splitting, and LaTeX's spacing accents are put
  back on their letters;
- the other pages (:func:`_light_lines`): the font size of each word's first letter and of each
  digit or footnote symbol, and three boxes per line. Enough for paragraphs, chunks and the
  reference list, at a fraction of the ctypes calls; superscripts are found by size alone.

Lines are grouped into paragraphs by their vertical spacing. Text inside Form XObjects is included;
rotated text (margin stamps) is left out, as pdfminer does. Pages with images and no characters are
listed in :attr:`PdfText.image_only` for OCR, pages drawn out of reading order (more than one line
in five going up within a column) in :attr:`PdfText.disordered` for pdfminer's layout analysis.
PDFium is not thread-safe: :data:`LOCK` serialises it.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import re
import threading
import time
from collections import Counter
from typing import Any

from ingest.readers.pdf_layout import MARKERS, PASSWORD, Line, PdfText, fix_glyphs, one_line, page_cut
from kg.errors import ReaderError

_Char = tuple[str, float, float, float, float, float]  # text, x0, y0, x1, y1, font size
_Stats = tuple[float, float, float, float, float, float]  # size, baseline, x0, y0, x1, y1
_SOFT_HYPHENS = frozenset("\ufffe\x02\xad")  # PDFium's marks for a hyphen at a line end; soft hyphen
_ACCENT_MARKS = frozenset("¨´˜˘ˇˆ˚¸")  # LaTeX's spacing accents, drawn over (or under) a letter
_ACCENT_RE = re.compile(f"[{''.join(sorted(_ACCENT_MARKS))}]")
_LINE_RE = re.compile("[^\r\n\ufffe\x02]+[\ufffe\x02]?|[\ufffe\x02]")
_WORD_RE = re.compile(r"[^\s\x00]+")
_MARK_RE = re.compile("[\\d" + re.escape("".join(sorted(MARKERS))) + "]")
_HYPHEN_TABLE = str.maketrans(dict.fromkeys(_SOFT_HYPHENS, "-"))
_SURROGATE = re.compile("[\ud800-\udfff]")


LOCK = threading.Lock()
"""PDFium is not thread-safe: every use of it in this process holds this lock."""


class OpenError(ReaderError):
    """PDFium could not open the file (the reader then tries pdfminer)."""


def _text(tp: Any, raw: Any) -> str:
    """The page's characters, one per index (``\\r\\n`` where PDFium sees a new line)."""
    n = raw.FPDFText_CountChars(tp)
    if n <= 0:
        return ""
    buf = (ctypes.c_ushort * (n + 1))()
    got = raw.FPDFText_GetText(tp, 0, n, buf)
    text = bytes(buf)[:max(got - 1, 0) * 2].decode("utf-16-le", errors="replace")
    if len(text) != n:  # characters outside the BMP: one index per UTF-16 unit (see _unpair)
        text = "".join(map(chr, buf[:max(got - 1, 0)]))
    if len(text) != n:
        text = "".join(chr(raw.FPDFText_GetUnicode(tp, i) or 32) for i in range(n))
    return text


def _unpair(s: str) -> str:
    """UTF-16 surrogate pairs (PDFium's indices for a character outside the BMP) joined into that
    character; a lone half becomes U+FFFD."""
    if _SURROGATE.search(s) is None:
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _chars(tp: Any, raw: Any, text: str) -> list[list[_Char | None]]:
    """The page's characters as raw lines, each with its own box; ``None`` stands for a space."""
    box, size_of, rect = raw.FPDFText_GetLooseCharBox, raw.FPDFText_GetFontSize, raw.FS_RECTF()
    ref = ctypes.byref(rect)
    lines: list[list[_Char | None]] = []
    cur: list[_Char | None] = []
    prev: _Char | None = None
    rotated = False
    for i, ch in enumerate(text):
        if ch == "\r" or ch == "\n":
            if cur:
                lines.append(cur)
            cur, prev, rotated = [], None, False
            continue
        if ch.isspace() or ch == "\x00":
            if cur and cur[-1] is not None:
                cur.append(None)
            continue
        if prev is None and not cur:
            rotated = _rotated(tp, raw, i)
        if rotated:
            continue
        box(tp, i, ref)
        size = size_of(tp, i)
        if ch in _SOFT_HYPHENS:
            ch = "-"
        c = (ch, rect.left, rect.bottom, rect.right, rect.top, size)
        if prev is not None:
            dy = abs(c[2] - prev[2])
            if dy > 0.5 * size and ch not in _ACCENT_MARKS and (
                    dy > 1.5 * max(size, prev[5]) or c[1] < prev[3] - size):
                lines.append(cur)  # a new line PDFium did not break (it joins lines at a hyphen)
                cur = []
        cur.append(c)
        prev = c
    if cur:
        lines.append(cur)
    return lines


def _light_lines(tp: Any, raw: Any, text: str, page: int) -> list[Line]:
    """A page's lines from a few font sizes and boxes per line (see the module docstring).

    A line's size is the most common one among its words' first letters (weighted by word length);
    its box comes from its first, last and first dominant-size characters; digits and footnote
    symbols under 0.8 of that size are dropped. No wide gaps are marked (``marked`` is the text).
    Lines are split where PDFium joined them at a hyphen, and pieces on one baseline are merged; a
    line with a spacing accent is read character by character (to place the accent).
    """
    box, size_of, rect = raw.FPDFText_GetLooseCharBox, raw.FPDFText_GetFontSize, raw.FS_RECTF()
    ref = ctypes.byref(rect)
    accents = {m.start() for m in _ACCENT_RE.finditer(text)}
    out: list[Line] = []
    counts: list[int] = []  # characters per line (the larger piece sets a merged line's size)

    def add(ln: Line, n: int) -> None:
        if out:
            last = out[-1]
            big = max(ln.size, last.size)
            if (ln.x0 >= last.x1 - 0.5 * ln.size and ln.x0 - last.x1 < 2 * big
                    and abs(ln.y0 - last.y0) < 0.4 * big):  # same baseline: one line
                sup = ln.size < 0.8 * last.size and all(ch.isdigit() or ch in MARKERS for ch in ln.text)
                text_ = last.text if sup else f"{last.text} {ln.text}"
                keep = last if counts[-1] >= n else ln
                out[-1] = Line(page, min(last.x0, ln.x0), keep.y0, max(last.x1, ln.x1), keep.y1, keep.size,
                               text_, text_)
                counts[-1] += n
                return
        out.append(ln)
        counts.append(n)

    def finish(start: int, end: int, words: list[tuple[int, int]]) -> None:
        n = end + 1 - start
        if accents and any(start <= a <= end for a in accents):
            chars: list[_Char | None] = []
            for k in range(start, end + 1):
                if text[k].isspace() or text[k] == "\x00":
                    if chars and chars[-1] is not None:
                        chars.append(None)
                    continue
                box(tp, k, ref)
                chars.append((text[k].translate(_HYPHEN_TABLE), rect.left, rect.bottom, rect.right, rect.top,
                              size_of(tp, k)))
            if (ln := _line(page, chars, set(), _stats(chars))) is not None:
                add(ln, n)
            return
        tally: dict[float, int] = {}  # font size -> characters, from each word's first letter
        first: dict[float, int] = {}
        for a, b in words:
            k = a
            while k < b - 1 and (text[k].isdigit() or text[k] in MARKERS):  # "9https://..." (a footnote)
                k += 1
            z = size_of(tp, k)
            tally[z] = tally.get(z, 0) + b - a
            first.setdefault(z, k)
        main = max(tally, key=tally.__getitem__)
        small = {k for m in _MARK_RE.finditer(text, start, end + 1) if size_of(tp, k := m.start()) < 0.8 * main}
        box(tp, first[main], ref)
        y0, y1 = rect.bottom, rect.top
        box(tp, end, ref)
        x1 = rect.right
        box(tp, start, ref)
        x0 = rect.left
        s = text[start:end + 1]
        if small:  # superscript digits and footnote symbols dropped
            s = "".join(ch for k, ch in enumerate(s, start) if k not in small)
        plain = fix_glyphs(" ".join(_unpair(s).translate(_HYPHEN_TABLE).split()))
        if plain:
            add(Line(page, x0, y0, x1, y1, round(main, 1), plain, plain), n)

    for m in _LINE_RE.finditer(text):  # PDFium's lines, split where it joined one on at a hyphen
        words = [w.span() for w in _WORD_RE.finditer(text, m.start(), m.end())]
        if words and not _rotated(tp, raw, words[0][0]):
            finish(words[0][0], words[-1][1] - 1, words)
    return out


def _stats(chars: list[_Char | None]) -> _Stats:
    """Dominant size, its baseline (lowest bottom), and the bounding box of a raw line."""
    _, xs0, ys0, xs1, ys1, sizes = zip(*(c for c in chars if c is not None), strict=True)
    counts = Counter(sizes)
    if len(counts) == 1:
        size, base = sizes[0], min(ys0)
    else:
        size = counts.most_common(1)[0][0]
        base = min(y for y, s in zip(ys0, sizes, strict=True) if s == size)
    return size, base, min(xs0), min(ys0), max(xs1), max(ys1)


def _place_accents(chars: list[_Char | None], seps: set[int]) -> tuple[list[_Char | None], set[int]]:
    """Move each spacing accent next to the letter it sits on (PDFium may put it after the word)."""
    accents = [(k, c) for k, c in enumerate(chars) if c is not None and c[0] in _ACCENT_MARKS]
    if not accents:
        return chars, seps
    drop = {k for k, _ in accents}
    for k, _ in accents:  # the spaces PDFium generated around a detached accent
        if k > 0 and chars[k - 1] is None and k - 1 not in seps:
            drop.add(k - 1)
            left, nxt = chars[k - 2] if k > 1 else None, chars[k + 2] if k + 2 < len(chars) else None
            if k + 1 < len(chars) and chars[k + 1] is None and (
                    nxt is None or nxt[0] in ",.;:)" or (left is not None and nxt[1] - left[3] < 0.1 * nxt[5])):
                drop.add(k + 1)
    rest = [(k, c) for k, c in enumerate(chars) if k not in drop]
    for k, a in accents:
        mid = (a[1] + a[3]) / 2
        at = next((j for j, (_, c) in enumerate(rest) if c is not None and c[0] not in _ACCENT_MARKS
                   and c[1] - 0.5 <= mid <= c[3] + 0.5), None)
        if at is None:
            return chars, seps
        rest.insert(at + (a[0] == "¸"), (k, a))  # a cedilla follows its letter
    return [c for _, c in rest], {j for j, (k, _) in enumerate(rest) if k in seps}


def _line(page: int, chars: list[_Char | None], seps: set[int], stats: _Stats) -> Line | None:
    """One :class:`Line` (``stats``: :func:`_stats` of ``chars``); ``seps`` are the positions where
    merged pieces meet (marked ``|``)."""
    placed, seps = _place_accents(chars, seps)
    if placed is not chars:
        chars, stats = placed, _stats(placed)
    size, base, x0, y0, x1, y1 = stats
    text: list[str] = []  # superscript digits and footnote symbols dropped
    marked: list[str] = []  # superscripts, symbols and wide gaps as "|" (author splitting)
    prev: _Char | None = None
    for k, c in enumerate(chars):
        if c is None:
            text.append(" ")
            marked.append("|" if k in seps else " ")
            continue
        t = c[0]
        sup = c[5] < 0.8 * size or c[2] > base + 0.25 * size
        gap = prev is not None and c[1] - prev[3] > 0.6 * size
        text.append("" if sup and (t.isdigit() or t in MARKERS) else t)
        marked.append(("|" if gap else "") + ("|" if sup or t in MARKERS else t))
        prev = c
    plain = fix_glyphs(" ".join(_unpair("".join(text)).split()))
    if not plain:
        return None
    return Line(page, x0, y0, x1, y1, round(size, 1), plain, fix_glyphs(_unpair("".join(marked))))


def _page_lines(tp: Any, raw: Any, page: int, full: bool = True) -> list[list[Line]]:
    """A page's paragraphs, each a list of lines in drawing order (``full``: every character's box)."""
    text = _text(tp.raw, raw)
    lines = _full_lines(tp.raw, raw, text, page) if full else _light_lines(tp.raw, raw, text, page)
    boxes: list[list[Line]] = []
    for ln in lines:
        last = boxes[-1][-1] if boxes else None
        if (last is not None and last.y0 - ln.y1 < 0.5 * max(last.size, ln.size)
                and ln.y0 < last.y0 - 0.5 * ln.size
                and ln.x0 < last.x1 and ln.x1 > last.x0 and abs(ln.size - last.size) <= 1.5):
            boxes[-1].append(ln)
        else:
            boxes.append([ln])
    return boxes


def _full_lines(tp: Any, raw: Any, text: str, page: int) -> list[Line]:
    """A page's lines from every character's box and size (page 1: author lines need the gaps)."""
    merged: list[tuple[list[_Char | None], set[int], _Stats]] = []  # chars, merge points, stats
    for chars in _chars(tp, raw, text):
        while chars and chars[-1] is None:
            chars.pop()
        if not chars:
            continue
        stats = _stats(chars)
        size, base, x0 = stats[:3]
        if merged:
            m_chars, seps, (m_size, m_base, _, _, m_x1, _) = merged[-1]
            big = max(size, m_size)
            if x0 >= m_x1 - 0.5 * size and x0 - m_x1 < 2 * big and abs(base - m_base) < 0.4 * big:
                seps.add(len(m_chars))
                m_chars += [None, *chars]
                merged[-1] = (m_chars, seps, _stats(m_chars))
                continue
        merged.append((chars, set(), stats))
    return [ln for chars, seps, stats in merged if (ln := _line(page, chars, seps, stats)) is not None]


def _disordered(lines: list[Line]) -> bool:
    """Whether the drawing order often goes up within a column (more than 2 times and in more than
    one line in five): the page was not drawn in reading order."""
    ups = sum(b.y0 > a.y1 + 0.5 * a.size and b.x0 < a.x1 and b.x1 > a.x0 for a, b in itertools.pairwise(lines))
    return ups > 2 and ups * 5 > len(lines)


def _rotated(tp: Any, raw: Any, i: int) -> bool:
    """Whether character ``i`` is drawn at an angle (more than ~6 degrees off horizontal)."""
    angle = raw.FPDFText_GetCharAngle(tp, i)
    return angle > 0 and min(angle, 2 * math.pi - angle) > 0.1


def _has_image(page: Any, raw: Any) -> bool:
    return any(True for _ in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=3))


def open_pdf(data: bytes) -> Any:
    """The file as a ``pypdfium2.PdfDocument``; :class:`ReaderError` (:class:`OpenError`) when it won't open."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise ReaderError(PASSWORD) from None
        raise OpenError(f"invalid PDF: {one_line(e)}") from None


def extract(data: bytes, max_pages: int, budget_s: float) -> PdfText:
    """Lines, paragraphs and metadata of at most ``max_pages`` pages, stopping after ``budget_s``;
    a page PDFium cannot read is left empty and listed in :attr:`PdfText.failed`."""
    with LOCK:
        return _extract(data, max_pages, budget_s)


def _extract(data: bytes, max_pages: int, budget_s: float) -> PdfText:
    import pypdfium2.raw as raw

    doc = open_pdf(data)
    out = PdfText(engine="pdfium")
    try:
        total = len(doc)
        try:  # metadata is nice to have
            meta = doc.get_metadata_dict(skip_empty=True)
            out.info = {k.lower(): s for k, v in meta.items() if (s := " ".join(v.replace("\x00", "").split()))}
        except Exception:  # a broken /Info dictionary costs only the metadata
            pass
        start = time.monotonic()
        for n in range(1, total + 1):
            if cut := page_cut(n, total, max_pages, start, budget_s):
                out.warnings.append(cut)
                break
            try:
                page = doc[n - 1]
                try:
                    width, height = page.get_size()
                    tp = page.get_textpage()
                    try:
                        boxes = _page_lines(tp, raw, len(out.pages), not out.pages)  # page 1: every box
                    finally:
                        tp.close()
                    if not boxes and _has_image(page, raw):
                        out.image_only.append((len(out.pages), n - 1))
                    elif _disordered([ln for b in boxes for ln in b]):
                        out.disordered.append((len(out.pages), n - 1))
                finally:
                    page.close()
            except Exception as e:  # an empty page in its place: the reader may read it with pdfminer
                out.failed.append((len(out.pages), n - 1, one_line(e)))
                boxes, width, height = [], 0.0, 0.0
            out.pages.append([ln for b in boxes for ln in b])
            out.sizes.append((float(width), float(height)))
            out.paragraphs.append(["\n".join(ln.text for ln in b) for b in boxes])
    finally:
        doc.close()
    return out
