"""The sheet reader: .xlsx/.xlsm workbooks and .csv/.tsv files -> Papers (bibliographic sheets)
or a Document whose rows are searchable chunks; bad workbooks and odd CSV never crash a batch."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import ingest.readers.sheet as sheet
from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.sheet import SheetReader, bibliographic_columns, split_authors
from kg import KnowledgeGraph
from kg.errors import ReaderError
from kg.model import Label, ReadResult, Rel

openpyxl = pytest.importorskip("openpyxl")
SITE = Path(openpyxl.__file__).resolve().parents[1]
READER = SheetReader()
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    """A workbook written by openpyxl, one sheet per entry (rows as given)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rezip(data: bytes, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> bytes:
    """``data`` (a ZIP) with members replaced (or dropped, for None) and added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            new = change.get(name, src.read(name))
            if new is not None:
                dst.writestr(name, new)
        for name, blob in (add or {}).items():
            dst.writestr(name, blob)
    return buf.getvalue()


def read(tmp_path: Path, name: str, data: bytes) -> ReadResult:
    p = tmp_path / name
    p.write_bytes(data)
    return READER.read(p, data)


def labelled(res: ReadResult, label: str) -> list[Any]:
    return [n for n in res.nodes if n.label == label]


def chunks(res: ReadResult) -> list[str]:
    return [n.properties["text"] for n in sorted(labelled(res, Label.CHUNK), key=lambda n: n.properties["index"])]


PAPERS = [
    [" Title ", "AUTHOR(S)", "Publication Year", "Journal", "DOI", "Abstract", "Keywords", "Notes"],
    ["Attention Is All You Need", "Vaswani, Ashish; Shazeer, Noam", 2017, "NeurIPS", "10.5555/3295222", "Transformers.",
     "attention; transformers", "seminal"],
    ["BERT: Pre-training", "J Devlin, M Chang and K Lee", dt.datetime(2019, 6, 2), "NAACL", None, None, None, None],
    [None, "Nobody", 2020, None, None, None, None, None],
    ["Undated Work", "Ann Lee", "n.d.", None, None, None, None, None],
]


# -- bibliographic sheets ----------------------------------------------------------------------------------
def test_bibliographic_workbook_becomes_papers(tmp_path: Path) -> None:
    res = read(tmp_path, "refs.xlsx", xlsx({"Refs": PAPERS}))
    papers = {n.properties["title"]: n for n in labelled(res, Label.PAPER)}
    assert set(papers) == {"Attention Is All You Need", "BERT: Pre-training", "Undated Work"}
    att = papers["Attention Is All You Need"]
    assert att.id == "paper:doi:10.5555/3295222"
    assert {"year": 2017, "venue": "NeurIPS", "abstract": "Transformers.", "source_format": "xlsx"}.items() \
        <= att.properties.items()
    assert papers["BERT: Pre-training"].properties["year"] == 2019  # a date cell
    assert "year" not in papers["Undated Work"].properties
    authored = {(e.source, e.target) for e in res.edges if e.type == Rel.AUTHORED}
    names = {n.id: n.properties["name"] for n in labelled(res, Label.AUTHOR)}
    assert {names[a] for a, p in authored if p == att.id} == {"Ashish Vaswani", "Noam Shazeer"}
    assert {names[a] for a, p in authored if p == papers["BERT: Pre-training"].id} == {"J Devlin", "M Chang", "K Lee"}
    assert {n.properties["name"] for n in labelled(res, Label.VENUE)} == {"NeurIPS", "NAACL"}
    assert {n.properties["name"] for n in labelled(res, Label.CATEGORY)} == {"attention", "transformers"}
    assert sum(e.type == Rel.PUBLISHED_IN for e in res.edges) == 2
    assert res.errors == ["row 4: paper has no title and no identifier"]
    assert res.warnings == ["row 5: year 'n.d.' is not a year (ignored)"]
    assert not labelled(res, Label.DOCUMENT) and not labelled(res, Label.CHUNK)


def test_bibliographic_csv_with_semicolons_and_quotes(tmp_path: Path) -> None:
    csv_text = ('title;authors;year;venue\n'
                '"Graphs, Embeddings; and Search";"Doe, Jane and Roe, Rick";2021;ACL\n'
                '\n'
                'Second paper;Li Wei;2022\n')
    res = read(tmp_path, "papers.csv", csv_text.encode())
    titles = sorted(n.properties["title"] for n in labelled(res, Label.PAPER))
    assert titles == ["Graphs, Embeddings; and Search", "Second paper"]
    assert sorted(n.properties["name"] for n in labelled(res, Label.AUTHOR)) == ["Jane Doe", "Li Wei", "Rick Roe"]
    assert res.errors == []
    assert res.warnings == ["1 row(s) with another number of cells than the header (4), the first at row 4"]


def test_header_and_author_rules() -> None:
    assert bibliographic_columns(["Paper Title", "doi"]) == {"title": 0, "doi": 1}
    assert bibliographic_columns(["TITLE", "Year", "author"]) == {"title": 0, "year": 1, "authors": 2}
    assert bibliographic_columns(["title", "notes"]) is None  # a title alone is not enough
    assert bibliographic_columns(["name", "authors", "year"]) is None
    assert split_authors("Smith, J.; Brown, Amy") == ["J. Smith", "Amy Brown"]
    assert split_authors("Smith J., Doe A., Roe B.") == ["Smith J.", "Doe A.", "Roe B."]
    assert split_authors(" ; ") == []


# -- other sheets ------------------------------------------------------------------------------------------
def test_data_sheet_becomes_document_with_row_chunks(tmp_path: Path) -> None:
    rows = [["model", "dataset", "ndcg@10"]] + [[f"model-{i}", "scifact", round(0.5 + i / 100, 2)] for i in range(45)]
    res = read(tmp_path, "results.csv", "\n".join(",".join(map(str, r)) for r in rows).encode())
    (doc,) = labelled(res, Label.DOCUMENT)
    assert doc.properties == {"title": "results", "format": "csv", "path": str(tmp_path / "results.csv"),
                              "columns": ["model", "dataset", "ndcg@10"], "n_rows": 45}
    texts = chunks(res)
    assert len(texts) == 3 and all(t.startswith("model | dataset | ndcg@10\n") for t in texts)
    assert texts[0].count("\n") == sheet.ROWS_PER_CHUNK and "model-0 | scifact | 0.5" in texts[0]
    assert [n.properties["rows"] for n in sorted(labelled(res, Label.CHUNK), key=lambda n: n.properties["index"])] \
        == [[2, 21], [22, 41], [42, 46]]
    assert {(e.source, e.type) for e in res.edges} == {(doc.id, Rel.HAS_CHUNK)}
    assert res.warnings == res.errors == []


def test_workbook_with_several_sheets(tmp_path: Path) -> None:
    data = xlsx({"Refs": PAPERS[:3], "Runs": [["run", "notes"], ["r1", "baseline bm25"], [None, None],
                                               ["r2", "hybrid", "extra cell"]],
                 "Empty": []})
    res = read(tmp_path, "lab.xlsx", data)
    assert len(labelled(res, Label.PAPER)) == 2
    (doc,) = labelled(res, Label.DOCUMENT)
    assert doc.properties["title"] == "lab: Runs" and doc.properties["sheet"] == "Runs"
    assert chunks(res) == ["run | notes\nr1 | baseline bm25\nr2 | hybrid | extra cell"]
    assert res.warnings == ["sheet 'Runs': 1 row(s) with another number of cells than the header (2), the first at row 4",
                            "sheet 'Empty': empty sheet"]
    # each sheet of a multi-sheet workbook has its own Document id; one sheet: the file's
    single = read(tmp_path, "one.xlsx", xlsx({"Runs": [["run"], ["r1"]]}))
    assert labelled(single, Label.DOCUMENT)[0].id != doc.id


def test_tsv_has_no_quoting_and_csv_encodings(tmp_path: Path) -> None:
    tsv = 'term\tdefinition\n"quoted\tstarts a field\nnext\tline "with" quotes\n'
    res = read(tmp_path, "glossary.tsv", tsv.encode())
    assert chunks(res) == ['term | definition\n"quoted | starts a field\nnext | line "with" quotes']
    text = "name,city\nJosé,Montréal\nRené,Zürich\n"
    for enc, warn in (("cp1252", "decoded as cp1252 (not UTF-8)"), ("utf-16", "decoded as utf-16 (not UTF-8)"),
                      ("utf-8-sig", None)):
        res = read(tmp_path, "people.csv", text.encode(enc))
        assert chunks(res) == ["name | city\nJosé | Montréal\nRené | Zürich"]
        assert res.warnings == ([warn] if warn else [])


def test_formulas_are_not_evaluated(tmp_path: Path) -> None:
    res = read(tmp_path, "f.xlsx", xlsx({"S": [["x", "y"], ["a", "=1+1"], ["b", "=HYPERLINK(\"http://x\")"]]}))
    assert chunks(res) == ["x | y\na\nb"]  # no cached values stored: nothing is computed


# -- limits ------------------------------------------------------------------------------------------------
def test_row_and_cell_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheet, "MAX_ROWS", 30)
    res = read(tmp_path, "big.csv", ("n\n" + "\n".join(str(i) for i in range(100))).encode())
    assert labelled(res, Label.DOCUMENT)[0].properties["n_rows"] == 30
    assert res.warnings == ["stopped at row 32: over the limit of 30 rows or 5000000 cells per file; the rest was not read"]
    monkeypatch.setattr(sheet, "MAX_CELLS", 50)
    res = read(tmp_path, "wide.xlsx", xlsx({"A": [list(range(20))] * 10, "B": [["x"], ["y"]]}))
    assert labelled(res, Label.DOCUMENT)[0].properties["n_rows"] == 2
    assert res.warnings[0].startswith("sheet 'A': stopped at row 4: over the limit")
    assert res.warnings[1] == "sheet 'B': not read (the file's row limit was reached)"


def test_a_row_a_million_rows_down_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["a"])
    wb.active.cell(row=900_000, column=1, value="far")
    buf = io.BytesIO()
    wb.save(buf)
    monkeypatch.setattr(sheet, "MAX_SCANNED", 1000)
    res = read(tmp_path, "far.xlsx", buf.getvalue())
    assert res.warnings and "stopped at row 1001" in res.warnings[0]


# -- bad input ---------------------------------------------------------------------------------------------
def test_bad_workbooks(tmp_path: Path) -> None:
    good = xlsx({"S": [["k", "v"]] + [[f"key{i}", "value"] for i in range(200)]})
    cases = {
        "truncated.xlsx": (good[: len(good) // 2], "corrupt .xlsx workbook (truncated or damaged ZIP)"),
        "encrypted.xlsx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "encrypted or legacy .xls Office file"),
        "text.xlsx": (b"name,value\n", "not an .xlsx workbook (not a ZIP file)"),
        "nopart.xlsx": (rezip(good, {"xl/workbook.xml": None}), "corrupt .xlsx workbook: KeyError"),
        "empty.xlsx": (b"", "empty file"),
        "blank.xlsx": (xlsx({"A": [], "B": [[None, None]]}), "no data: every sheet is empty"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(ReaderError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
            read(tmp_path, name, data)
        assert "\n" not in str(e.value)


def test_broken_sheet_xml_keeps_rows_read_so_far(tmp_path: Path) -> None:
    good = xlsx({"S": [["k", "v"]] + [[f"key{i}", "value"] for i in range(200)]})
    xml = zipfile.ZipFile(io.BytesIO(good)).read("xl/worksheets/sheet1.xml")
    res = read(tmp_path, "cut.xlsx", rezip(good, {"xl/worksheets/sheet1.xml": xml[: len(xml) // 2]}))
    assert len(res.errors) == 1 and res.errors[0].startswith("cannot read past row ")
    assert 10 < labelled(res, Label.DOCUMENT)[0].properties["n_rows"] < 200


def test_entity_bomb_in_a_sheet_is_refused(tmp_path: Path) -> None:
    ents = '<!ENTITY a "lol">' + "".join(f'<!ENTITY a{i} "{("&a" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                         for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE w [{ents}]><worksheet xmlns="{NS}"><sheetData><row r="1">'
            '<c r="A1" t="inlineStr"><is><t>&a9;</t></is></c></row></sheetData></worksheet>')
    data = rezip(xlsx({"S": [["x"]]}), {"xl/worksheets/sheet1.xml": bomb.encode()})
    with pytest.raises(ReaderError, match=r"corrupt \.xlsx workbook"):  # openpyxl parses through defusedxml
        read(tmp_path, "bomb.xlsx", data)


def test_macro_workbook_is_read_as_data(tmp_path: Path) -> None:
    good = xlsx({"S": [["task", "owner"], ["annotate", "ann"]]})
    z = zipfile.ZipFile(io.BytesIO(good))
    types = z.read("[Content_Types].xml").replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml").replace(
        b"<Default ", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default ', 1)
    rels = z.read("xl/_rels/workbook.xml.rels").replace(b"</Relationships>", (
        b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        b'Target="vbaProject.bin"/></Relationships>'))
    marker = tmp_path / "macro-ran"
    vba = f'Sub Auto_Open()\nOpen "{marker}" For Output As #1\nEnd Sub\n'.encode()
    res = read(tmp_path, "tasks.xlsm", rezip(good, {"[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels},
                                            {"xl/vbaProject.bin": vba}))
    assert chunks(res) == ["task | owner\nannotate | ann"]
    assert res.warnings == ["workbook has VBA macros: read as data, never run"] and not marker.exists()
    assert labelled(res, Label.DOCUMENT)[0].properties["format"] == "xlsm"


def test_bad_delimited_files(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="empty file"):
        read(tmp_path, "e.csv", b"")
    with pytest.raises(ReaderError, match="no data"):
        read(tmp_path, "blank.csv", b"\n\n,,\n")
    with pytest.raises(ReaderError, match="binary content"):
        read(tmp_path, "bin.csv", b"a,b\n\x00\x01\x02")
    res = read(tmp_path, "ragged.csv", b"a,b,c\n1,2\n1,2,3,4\n1,2,3\n,,\n")
    assert chunks(res) == ["a | b | c\n1 | 2\n1 | 2 | 3 | 4\n1 | 2 | 3"]
    assert res.warnings == ["2 row(s) with another number of cells than the header (3), the first at row 2"]
    res = read(tmp_path, "huge-field.csv", b"a,b\n1,2\n\"" + b"x" * 200_000 + b"\"\n3,4\n")
    assert res.errors and res.errors[0].startswith("cannot read past row 2: Error: field larger than field limit")
    assert chunks(res) == ["a | b\n1 | 2"]
    res = read(tmp_path, "header-only.csv", b"a,b\n")
    assert res.warnings == ["a header row and no data"] and not labelled(res, Label.CHUNK)


# -- selection ---------------------------------------------------------------------------------------------
def test_sniff_takes_only_sheet_extensions(tmp_path: Path) -> None:
    assert isinstance(get_reader("sheet"), SheetReader)

    def picked(name: str, head: bytes) -> str | None:
        r = select_reader(FileInfo(tmp_path / name, head))
        return r.name if r else None

    for name in ("a.csv", "a.TSV", "a.xlsx", "a.XLSM"):
        assert picked(name, b"a,b\n1,2\n") == "sheet"
    beir = json.dumps({"_id": "1", "title": "t", "text": "x"}).encode() + b"\n"
    assert picked("corpus.jsonl", beir) == get_reader("beir-corpus").name
    meta = json.dumps({"paper_id": "1", "title": "t", "authors": [], "year": 2020}).encode() + b"\n"
    assert picked("meta.jsonl", meta) != "sheet"
    assert picked("listing.txt", b"Daily Papers\n\n1. A paper\n\xe2\x80\xa2 3 authors\n") != "sheet"
    assert picked("notes.txt", b"a\tb\n1\t2\n") == "text"
    assert picked("data.dat", b"a,b\n1,2\n") is None and picked("old.xls", b"\xd0\xcf\x11\xe0") is None
    assert picked("qrels/test.tsv", b"1\t31715818\t1\n") is None  # BEIR qrels: no reader
    assert picked("judgements.tsv", b"query-id\tcorpus-id\tscore\n1\t2\t1\n") is None


# -- real-world files shipped inside installed packages ----------------------------------------------------
@pytest.mark.parametrize(("rel", "first_column"), [
    ("matplotlib/mpl-data/sample_data/msft.csv", "Date"),
    ("gensim/test/test_data/wordsim353.tsv", None),
    ("sklearn/datasets/data/breast_cancer.csv", None),
])
def test_real_world_files(rel: str, first_column: str | None) -> None:
    p = SITE / rel
    if not p.is_file():
        pytest.skip(f"{rel} is not installed")
    data = p.read_bytes()
    res = READER.read(p, data)
    (doc,) = labelled(res, Label.DOCUMENT)
    lines = [ln for ln in data.decode().splitlines() if ln.strip(" ,\t")]
    assert doc.properties["n_rows"] == len(lines) - 1 and res.errors == []
    if first_column:
        assert doc.properties["columns"][0] == first_column
    body = "\n".join(chunks(res))
    assert lines[-1].split("\t" if p.suffix == ".tsv" else ",")[0] in body


# -- end to end --------------------------------------------------------------------------------------------
def test_ingest_folder_of_sheets(tmp_path: Path) -> None:
    d = tmp_path / "in"
    (d / "qrels").mkdir(parents=True)
    (d / "refs.xlsx").write_bytes(xlsx({"Refs": PAPERS[:3]}))
    (d / "runs.csv").write_bytes(b"run,notes\nr1,baseline okapi bm25\nr2,hybrid with reciprocal rank fusion\n")
    (d / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\n1\t2\t1\n")
    (d / "locked.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    (d / "cut.xlsx").write_bytes(xlsx({"S": [["a"], ["b"]]})[:300])
    with KnowledgeGraph.open(tmp_path / "store") as g:
        report = g.ingest(d, embed=False)
        by = {Path(f.path).relative_to(d).as_posix(): f for f in report.files}
        assert {k: (f.status, f.reader) for k, f in by.items() if f.status != "failed"} == {
            "refs.xlsx": ("added", "sheet"), "runs.csv": ("added", "sheet"), "qrels/test.tsv": ("unsupported", "")}
        assert "encrypted or legacy .xls" in by["locked.xlsx"].error
        assert "corrupt .xlsx workbook" in by["cut.xlsx"].error
        att = g.node("paper:doi:10.5555/3295222")
        assert att.properties["title"] == "Attention Is All You Need" and att.sources == (str(d / "refs.xlsx"),)
        edges = {(e.source, e.type, e.target) for e in g.edges()}
        assert ("author:name:ashish-vaswani", Rel.AUTHORED, att.id) in edges
        assert (att.id, Rel.PUBLISHED_IN, "venue:neurips") in edges
        doc = next(n for n in g.nodes() if n.label == Label.DOCUMENT)
        assert doc.properties["title"] == "runs" and g.node(doc.id).sources == (str(d / "runs.csv"),)
        hits = g.search("reciprocal rank fusion", mode="bm25", k=3)
        assert hits[0].id == doc.id and "r2 | hybrid with reciprocal rank fusion" in hits[0].passages[0]
