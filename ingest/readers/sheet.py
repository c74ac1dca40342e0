"""Spreadsheets and delimited text (``.xlsx``, ``.xlsm``, ``.csv``, ``.tsv``).

Each sheet (a CSV/TSV file is one sheet) is read as rows; the first non-blank row is the header
and row numbers count as a spreadsheet does (the header of a sheet starting at the top is row 1).

* A **bibliographic** sheet (a ``title`` column plus ``authors``/``author``, ``doi`` or ``year``;
  names compared ignoring case, spaces and punctuation, see :data:`FIELDS`) gives one ``Paper``
  per row, with ``Author`` (``AUTHORED``), ``Venue`` (``PUBLISHED_IN``) and keyword ``Category``
  records built by :func:`ingest.records.paper_records`. Authors are split on ``;`` and
  `` and `` (``"Last, First"`` is turned round; ``"A Smith, B Jones"`` is two people). A row
  with neither a title nor a DOI goes to ``ReadResult.errors`` with its row number.
* **Any other** sheet gives one ``Document`` (title from the file and sheet names; ``sheet``,
  ``columns``, ``n_rows``) whose rows become ``Chunk`` s of up to :data:`ROWS_PER_CHUNK` rows,
  each chunk repeating the header line. Its id is ``document_id(path)``, or of ``path#sheet``
  in a workbook with several sheets.

Workbooks are opened with openpyxl in read-only (streaming) mode with cached values only:
formulas are never evaluated and VBA macros in an ``.xlsm`` are never run (a warning says they
were there). CSV/TSV text may be in any encoding (:func:`decode_text_with_encoding`); a ``.csv``
delimiter is taken from the header line, else guessed by :class:`csv.Sniffer`; a ``.tsv`` is split
on tabs with no quoting. Rows with another cell count than the header are kept and counted in
one warning. At most :data:`MAX_ROWS` rows and :data:`MAX_CELLS` cells per file are read (a
warning says where it stopped). A password-protected workbook (an OLE container, like a legacy
``.xls``), a file that is not a ZIP, a corrupt workbook and one with a part that would inflate past
256 MiB (a ZIP bomb; :data:`ingest.readers.word.MAX_MEMBER_BYTES`) raise :class:`kg.errors.ReaderError`.
BEIR qrels (``query-id corpus-id score``) are left to no reader.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, decode_text_with_encoding, encoding_warning, register_reader
from ingest.readers.beir import display_name
from ingest.readers.word import MAX_MEMBER_BYTES
from ingest.records import AuthorRef, PaperRecord, chunk_records, document_id, paper_records
from kg.errors import ReaderError, require
from kg.model import Label, NodeRecord, ReadResult

SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm")
MAX_ROWS = 200_000
"""Data rows read per file; the rest is dropped with a warning."""
MAX_CELLS = 5_000_000
"""Cells read per file (wide sheets reach it before :data:`MAX_ROWS`)."""
MAX_SCANNED = 1_100_000
"""Rows looked at per file, blank ones included (a sheet can claim a row a billion rows down)."""
ROWS_PER_CHUNK = 20
MAX_CHUNK_WORDS = 300
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("title", "papertitle", "articletitle", "documenttitle"),
    "authors": ("authors", "author", "authorlist", "authornames", "creators"),
    "doi": ("doi",),
    "year": ("year", "publicationyear", "pubyear", "yearpublished"),
    "venue": ("venue", "journal", "journaltitle", "conference", "booktitle", "sourcetitle",
              "publicationtitle", "publication"),
    "abstract": ("abstract",),
    "url": ("url", "link"),
    "arxiv": ("arxiv", "arxivid"),
    "keywords": ("keywords", "tags", "authorkeywords"),
}
"""Bibliographic fields and the header names (lower case, letters and digits only) that mean them."""

_YEAR = re.compile(r"(?<!\d)([12]\d{3})(?!\d)")


def cell_text(value: Any) -> str:
    """A cell as one line of text: integral floats without ``.0``, dates in ISO form.

    >>> cell_text(2020.0), cell_text(None), cell_text(" a\\n b "), cell_text(datetime(2024, 1, 2))
    ('2020', '', 'a b', '2024-01-02')
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return " ".join(str(value).split())


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def bibliographic_columns(header: Sequence[str]) -> dict[str, int] | None:
    """Column index per bibliographic field, or None when the header is not bibliographic.

    >>> bibliographic_columns(["Title", "Author(s)", "Year"])
    {'title': 0, 'authors': 1, 'year': 2}
    >>> bibliographic_columns(["title", "score"]) is None
    True
    """
    cols: dict[str, int] = {}
    for i, name in enumerate(header):
        k = _key(name)
        for fld, names in FIELDS.items():
            if k in names and fld not in cols:
                cols[fld] = i
    ok = "title" in cols and any(f in cols for f in ("authors", "doi", "year"))
    return cols if ok else None


def split_authors(text: str) -> list[str]:
    """Author names from one cell: split on ``;`` and `` and ``; ``Last, First`` turned round.

    >>> split_authors("Doe, Jane; Smith, J. and Lee Min")
    ['Jane Doe', 'J. Smith', 'Lee Min']
    >>> split_authors("A Smith, B Jones")
    ['A Smith', 'B Jones']
    """
    names: list[str] = []
    for part in re.split(r";|\s+and\s+", text):
        pieces = [p.strip() for p in part.split(",") if p.strip()]
        if len(pieces) == 2 and len(pieces[0].split()) == 1:
            names.append(display_name(part))
        else:
            names.extend(" ".join(p.split()) for p in pieces)
    return [n for n in names if n]


@dataclass
class Budget:
    """What is left of the per-file caps; ``cut`` once a cap stopped the read."""

    rows: int
    cells: int
    scanned: int
    cut: bool = False


@dataclass
class _Papers:
    """Rows of a bibliographic sheet -> Paper records."""

    cols: dict[str, int]
    fmt: str
    where: str
    out: ReadResult

    def add(self, rowno: int, cells: list[str]) -> None:
        def get(fld: str) -> str:
            i = self.cols.get(fld)
            return cells[i] if i is not None and i < len(cells) else ""

        year_text = get("year")
        year = int(m.group(1)) if (m := _YEAR.search(year_text)) else None
        if year_text and year is None:
            self.out.warnings.append(f"{self.where}row {rowno}: year {year_text[:40]!r} is not a year (ignored)")
        keywords = [k.strip() for k in re.split(r"[;,]", get("keywords")) if k.strip()]
        rec = PaperRecord(
            title=get("title") or None, abstract=get("abstract") or None, year=year,
            authors=[AuthorRef(n) for n in split_authors(get("authors"))], doi=get("doi") or None,
            arxiv_id=get("arxiv") or None, venue=get("venue") or None, url=get("url") or None,
            categories=[("keyword", k) for k in keywords], extra={"source_format": self.fmt})
        try:
            self.out.extend(paper_records(rec)[1])
        except ValueError as e:
            self.out.errors.append(f"{self.where}row {rowno}: {e}")

    def finish(self) -> None:
        """Nothing to flush: each row was turned into records as it came."""


@dataclass
class _Rows:
    """Rows of any other sheet -> one Document with chunks of rows under a repeated header."""

    path: Path
    key: str
    title: str
    fmt: str
    sheet: str | None
    header: list[str]
    out: ReadResult
    chunks: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    pending: list[tuple[int, str]] = field(default_factory=list)
    n_rows: int = 0

    def add(self, rowno: int, cells: list[str]) -> None:
        self.n_rows += 1
        line = " | ".join(cells)
        words = len(line.split())
        if words > MAX_CHUNK_WORDS:  # one very long row: split it on its own
            self._flush()
            for piece in chunk_text(line, max_words=MAX_CHUNK_WORDS, overlap_words=0):
                self._emit([(rowno, piece)])
            return
        if self.pending and (len(self.pending) >= ROWS_PER_CHUNK
                             or sum(len(t.split()) for _, t in self.pending) + words > MAX_CHUNK_WORDS):
            self._flush()
        self.pending.append((rowno, line))

    def _flush(self) -> None:
        if self.pending:
            self._emit(self.pending)
            self.pending = []

    def _emit(self, rows: list[tuple[int, str]]) -> None:
        head = " | ".join(self.header)[:2000]
        self.chunks.append(head + "\n" + "\n".join(t for _, t in rows))
        self.spans.append((rows[0][0], rows[-1][0]))

    def finish(self) -> None:
        """Write the Document and its chunks (row range of each chunk in ``rows``)."""
        self._flush()
        did = document_id(self.key)
        props: dict[str, Any] = {"title": self.title, "format": self.fmt, "path": str(self.path),
                                 "columns": self.header[:200], "n_rows": self.n_rows}
        if self.sheet is not None:
            props["sheet"] = self.sheet
        self.out.nodes.append(NodeRecord(did, Label.DOCUMENT, props))
        chunks = chunk_records(did, self.key, self.chunks)
        for node, (first, last) in zip((n for n in chunks.nodes if n.label == Label.CHUNK), self.spans, strict=True):
            node.properties["rows"] = [first, last]
        self.out.extend(chunks)


def read_table(rows: Iterable[Sequence[Any]], budget: Budget, where: str,
               sink_for: Callable[[list[str]], _Papers | _Rows], out: ReadResult, *, fixed_width: bool) -> bool:
    """Feed one sheet's rows to the sink its header picks; False when the sheet is blank.

    A row is ragged when it has cells right of the header's last column, or (``fixed_width``:
    CSV/TSV, where every field is written out) when it has another number of fields.
    """
    sink: _Papers | _Rows | None = None
    header: list[str] = []
    width = 0
    ragged, first_ragged, rowno = 0, 0, 0
    for raw in rows:
        rowno += 1
        budget.scanned -= 1
        cells = [cell_text(v) for v in raw]
        while cells and not cells[-1]:
            cells.pop()
        if budget.scanned < 0 or (cells and sink is not None and (budget.rows <= 0 or budget.cells < len(cells))):
            budget.cut = True
            out.warnings.append(f"{where}stopped at row {rowno}: over the limit of {MAX_ROWS} rows or "
                                f"{MAX_CELLS} cells per file; the rest was not read")
            break
        if not cells:
            continue
        if sink is None:
            header = [c or f"column {i + 1}" for i, c in enumerate(cells)]
            width = len(raw)
            sink = sink_for(header)
            continue
        budget.rows -= 1
        budget.cells -= len(cells)
        if len(cells) > len(header) or (fixed_width and len(raw) != width):
            ragged += 1
            first_ragged = first_ragged or rowno
        sink.add(rowno, cells)
    if sink is None:
        out.warnings.append(f"{where}empty sheet")
        return False
    if ragged:
        out.warnings.append(f"{where}{ragged} row(s) with another number of cells than the header "
                            f"({len(header)}), the first at row {first_ragged}")
    if isinstance(sink, _Rows) and sink.n_rows == 0:
        out.warnings.append(f"{where}a header row and no data")
    sink.finish()
    return True


def guarded(rows: Iterable[Sequence[Any]], where: str, out: ReadResult) -> Iterator[Sequence[Any]]:
    """``rows``, stopping with one error line (and the rows so far kept) when reading them fails."""
    n = 0
    try:
        for row in rows:
            n += 1
            yield row
    except Exception as e:  # csv.Error, a broken ZIP member (zlib.error, BadZipFile), bad XML, ...
        msg = " ".join(str(e).split())[:200]
        out.errors.append(f"{where}cannot read past row {n}: {type(e).__name__}: {msg}")


def csv_delimiter(text: str) -> str:
    """The delimiter of a ``.csv``: the only candidate in the header line, else csv.Sniffer's guess.

    >>> csv_delimiter("a;b;c\\n1;2;3\\n"), csv_delimiter("x\\n1\\n")
    (';', ',')
    """
    first = text.split("\n", 1)[0]
    found = [d for d in ",;\t|" if d in first]
    if len(found) == 1:
        return found[0]
    sample = "\n".join(text[:16384].split("\n")[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def is_beir_qrels(info: FileInfo) -> bool:
    """A BEIR relevance-judgement file (``qrels/*.tsv`` or a ``query-id corpus-id`` header)."""
    first = info.head[:512].decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
    cols = [_key(c) for c in re.split(r"[\t,]", first)]
    return info.path.parent.name.lower() == "qrels" or cols[:2] == ["queryid", "corpusid"]


class SheetReader:
    """Excel workbooks (``.xlsx``/``.xlsm``) and CSV/TSV files; see the module docstring."""

    name = "sheet"
    priority = 10

    def sniff(self, info: FileInfo) -> bool:
        """A ``.csv``/``.tsv``/``.xlsx``/``.xlsm`` name (content never makes a file a sheet),
        except BEIR qrels."""
        suffix = info.path.suffix.lower()
        return suffix in SUFFIXES and not (suffix in (".csv", ".tsv") and is_beir_qrels(info))

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Papers from bibliographic sheets, a Document of row chunks from any other."""
        if not data:
            raise ReaderError("empty file")
        fmt = path.suffix.lower().lstrip(".")
        out = ReadResult()
        budget = Budget(MAX_ROWS, MAX_CELLS, MAX_SCANNED)
        if fmt in ("csv", "tsv"):
            found = self._read_delimited(path, data, fmt, budget, out)
        else:
            found = self._read_workbook(path, data, fmt, budget, out)
        if not found and not out.errors:
            raise ReaderError("no data: the file has no non-blank rows" if fmt in ("csv", "tsv")
                              else "no data: every sheet is empty")
        return out

    @staticmethod
    def _sink_for(path: Path, key: str, title: str, fmt: str, sheet: str | None, where: str,
                  out: ReadResult) -> Callable[[list[str]], _Papers | _Rows]:
        def pick(header: list[str]) -> _Papers | _Rows:
            cols = bibliographic_columns(header)
            if cols:
                return _Papers(cols, fmt, where, out)
            return _Rows(path, key, title, fmt, sheet, header, out)
        return pick

    def _read_delimited(self, path: Path, data: bytes, fmt: str, budget: Budget, out: ReadResult) -> bool:
        text, encoding = decode_text_with_encoding(data, path)
        if warning := encoding_warning(encoding):
            out.warnings.append(warning)
        if fmt == "tsv":
            rows: Iterable[list[str]] = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            rows = csv.reader(io.StringIO(text), delimiter=csv_delimiter(text))
        sink_for = self._sink_for(path, str(path), path.stem, fmt, None, "", out)
        return read_table(guarded(rows, "", out), budget, "", sink_for, out, fixed_width=True)

    def _read_workbook(self, path: Path, data: bytes, fmt: str, budget: Budget, out: ReadResult) -> bool:
        if data.startswith(OLE_MAGIC):
            raise ReaderError("encrypted or legacy .xls Office file (an OLE container, not an .xlsx workbook)")
        if not data.startswith(b"PK"):
            raise ReaderError(f"not an .{fmt} workbook (not a ZIP file)")
        try:
            infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
        except zipfile.BadZipFile as e:
            raise ReaderError(f"corrupt .{fmt} workbook (truncated or damaged ZIP): {e}") from None
        names = [i.filename for i in infos]
        # a ZIP bomb: openpyxl's XML parser would hold a gigabyte text node whole
        if big := next((i for i in infos if i.file_size > MAX_MEMBER_BYTES), None):
            raise ReaderError(f"refused .{fmt} workbook: member {big.filename!r} inflates to "
                              f"{big.file_size / 2**20:.0f} MiB (limit {MAX_MEMBER_BYTES // 2**20} MiB)")
        if any(n.lower().endswith("vbaproject.bin") for n in names):
            out.warnings.append("workbook has VBA macros: read as data, never run")
        openpyxl = require("openpyxl", "documents", "Excel workbooks")
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_vba=False,
                                        keep_links=False)
        except Exception as e:  # openpyxl raises many types for a broken package
            msg = " ".join(str(e).split())[:200]
            raise ReaderError(f"corrupt .{fmt} workbook: {type(e).__name__}: {msg}") from None
        try:
            sheets = list(wb.worksheets)
            found = False
            for ws in sheets:
                if budget.cut:
                    out.warnings.append(f"sheet {ws.title!r}: not read (the file's row limit was reached)")
                    continue
                where = f"sheet {ws.title!r}: " if len(sheets) > 1 else ""
                key = f"{path}#{ws.title}" if len(sheets) > 1 else str(path)
                sink_for = self._sink_for(path, key, f"{path.stem}: {ws.title}", fmt, ws.title, where, out)
                if hasattr(ws, "reset_dimensions"):
                    ws.reset_dimensions()  # the stored dimension may be wrong; read every row there is
                rows = guarded(ws.iter_rows(values_only=True), where, out)
                found = read_table(rows, budget, where, sink_for, out, fixed_width=False) or found
            return found
        finally:
            wb.close()


register_reader(SheetReader())
