"""Archive reader: ZIP and tar members read through the registry, with limits against bombs."""

from __future__ import annotations

import io
import struct
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from ingest.readers import archive
from ingest.readers.archive import ArchiveReader, unsafe_name
from ingest.readers.base import FileInfo, select_reader
from kg.errors import ReaderError

READER = ArchiveReader()
HEAD = 65536
STDLIB_TEST = Path(sysconfig.get_paths()["stdlib"]) / "test"

MD = b"# Reef survey\n\nWe counted the corals of the northern reef.\n"
BIB = b"@article{lee2020,\n  title = {Graphs of Reefs},\n  author = {Lee, Ann},\n  year = {2020},\n}\n"
TXT = b"Field notes from the second dive. The water was clear.\n"


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read(path: Path, data: bytes | None = None):
    if data is not None:
        path.write_bytes(data)
    return READER.read(path, path.read_bytes())


def titles(res) -> set[str]:
    return {n.properties.get("title") for n in res.nodes if n.label in ("Document", "Paper")}


def mixed_zip() -> bytes:
    return zip_bytes({"notes/reef.md": MD, "refs.bib": BIB, "inner.zip": zip_bytes({"dive.txt": TXT}),
                      "data.bin": b"\x00\x01\x02", "empty/": b""})


def test_sniff_by_suffix(tmp_path: Path) -> None:
    for name in ("a.zip", "a.tar", "a.tar.gz", "a.tgz", "a.tar.bz2", "a.tar.xz", "A.ZIP"):
        assert select_reader(FileInfo(tmp_path / name, b"")) is not None
        assert READER.sniff(FileInfo(tmp_path / name, b""))
    assert not READER.sniff(FileInfo(tmp_path / "a.docx", b"PK\x03\x04"))
    assert not READER.sniff(FileInfo(tmp_path / "a.gz", b""))
    epub_head = b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/epub+zip"
    assert select_reader(FileInfo(tmp_path / "book.zip", epub_head)).name == "epub"  # content wins
    # a tar whose first member is a PDF has %PDF in its first KiB: still the archive's
    tar_head = tar_bytes({"paper.pdf": b"%PDF-1.7\n" + b"x" * 100}, "w")[:HEAD]
    assert select_reader(FileInfo(tmp_path / "papers.tar", tar_head)).name == "archive"


def test_zip_members_nested_zip_and_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "lab.zip"
    res = read(path, mixed_zip())
    assert titles(res) == {"Reef survey", "Graphs of Reefs", "Field notes from the second dive. The water was clear."}
    assert not res.errors
    assert res.warnings == ["1 members no reader takes, skipped: data.bin"]
    docs = {n.properties["title"]: n for n in res.nodes if n.label == "Document"}
    assert docs["Reef survey"].properties["path"] == f"{path}#notes/reef.md"
    assert docs["Field notes from the second dive. The water was clear."].properties["path"] == \
        f"{path}#inner.zip#dive.txt"
    assert any(n.label == "Author" for n in res.nodes)  # the BibTeX reader ran
    assert any(e.type == "HAS_CHUNK" for e in res.edges)
    # the ids are stable: the same archive read again gives the same nodes
    assert [n.id for n in read(path).nodes] == [n.id for n in res.nodes]


@pytest.mark.parametrize("mode,name", [("w:gz", "a.tar.gz"), ("w:gz", "a.tgz"), ("w", "a.tar"),
                                       ("w:bz2", "a.tar.bz2"), ("w:xz", "a.tar.xz")])
def test_tar_variants(tmp_path: Path, mode: str, name: str) -> None:
    res = read(tmp_path / name, tar_bytes({"./paper/reef.md": MD, "refs.bib": BIB}, mode))
    assert titles(res) == {"Reef survey", "Graphs of Reefs"}
    assert not res.errors and not res.warnings


def test_tar_links_are_not_followed(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, kind, target in (("secret.md", tarfile.SYMTYPE, "/etc/passwd"),
                                   ("hard.md", tarfile.LNKTYPE, "reef.md")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
        info = tarfile.TarInfo("reef.md")
        info.size = len(MD)
        tf.addfile(info, io.BytesIO(MD))
    res = read(tmp_path / "links.tgz", buf.getvalue())
    assert titles(res) == {"Reef survey"}
    assert res.warnings == ["2 links not followed: secret.md, hard.md"]


def test_zip_symlink_member_not_followed(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.md")
        info.create_system = 3
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
        zf.writestr("reef.md", MD)
    res = read(tmp_path / "l.zip", buf.getvalue())
    assert titles(res) == {"Reef survey"}
    assert res.warnings == ["1 links not followed: link.md"]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_path_traversal_refused(tmp_path: Path, kind: str) -> None:
    members = {"../escape.md": MD, "/abs/evil.md": MD, "ok.md": b"# Fine\n\nbody text\n"}
    data = zip_bytes(members) if kind == "zip" else tar_bytes(members)
    res = read(tmp_path / ("t.zip" if kind == "zip" else "t.tar.gz"), data)
    assert titles(res) == {"Fine"}  # the escaping members are not read as if inside
    assert len(res.warnings) == 1
    assert res.warnings[0].startswith("2 members with paths escaping the archive refused (path traversal)")
    assert "../escape.md" in res.warnings[0]
    assert all("escape" not in n.id and "evil" not in str(n.properties) for n in res.nodes)


def test_unsafe_name() -> None:
    assert unsafe_name("a/../../b") and unsafe_name("..\\b") and unsafe_name("\\\\server\\x")
    assert not unsafe_name("a..b/c") and not unsafe_name("./a.md")


def test_zip_bomb_refused_by_ratio(tmp_path: Path) -> None:
    data = zip_bytes({"zeros.txt": b"0" * (8 << 20), "reef.md": MD})
    assert len(data) < 100_000  # a few MB of zeros at a high ratio
    t = time.perf_counter()
    res = read(tmp_path / "bomb.zip", data)
    assert time.perf_counter() - t < 2
    assert titles(res) == {"Reef survey"}
    (err,) = res.errors
    assert err.startswith("zeros.txt: compression ratio") and "over 100:1" in err


def test_tar_bomb_refused_by_ratio(tmp_path: Path) -> None:
    res = read(tmp_path / "bomb.tar.gz", tar_bytes({"reef.md": MD, "zeros.txt": b"0" * (8 << 20)}))
    assert titles(res) == {"Reef survey"}
    (err,) = res.errors
    assert err.startswith("zeros.txt: compression ratio")


def test_member_size_limit_and_lying_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 1000)
    big = b"word " * 400  # 2000 bytes
    res = read(tmp_path / "big.zip", zip_bytes({"big.txt": big, "reef.md": MD}))
    assert titles(res) == {"Reef survey"}
    assert res.errors == ["big.txt: 0 MiB uncompressed, over the 0 MiB limit per member"]
    # a tar header that declares a small size cannot make a member larger: tar sizes are exact,
    # so the cap is checked on a ZIP whose central directory understates the size
    data = bytearray(zip_bytes({"big.txt": big}, zipfile.ZIP_STORED))
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 10)  # declared uncompressed size: 10 bytes
    res = read(tmp_path / "liar.zip", bytes(data))
    assert len(res.errors) == 1 and res.errors[0].startswith("big.txt: damaged member")  # bad CRC on 10 bytes
    assert not res.nodes


def test_total_and_count_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = {f"n{i}.md": b"# Note %d\n\ntext\n" % i for i in range(6)}
    monkeypatch.setattr(archive, "MAX_MEMBERS", 3)
    res = read(tmp_path / "many.zip", zip_bytes(members))
    assert titles(res) == {"Note 0", "Note 1", "Note 2"}
    assert res.warnings == ["more than 3 members: the rest were not read"]
    monkeypatch.setattr(archive, "MAX_MEMBERS", 10_000)
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 40)
    res = read(tmp_path / "many.zip")
    assert titles(res) == {"Note 0", "Note 1"}
    assert res.warnings[0].startswith("n2.md: over the 0 MiB total uncompressed limit")


def test_count_limit_is_shared_with_nested_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 4)
    inner = zip_bytes({f"n{i}.md": b"# Inner %d\n\ntext\n" % i for i in range(5)})
    res = read(tmp_path / "outer.zip", zip_bytes({"a.md": b"# Outer\n\ntext\n", "inner.zip": inner}))
    assert titles(res) == {"Outer", "Inner 0", "Inner 1"}
    assert res.warnings == ["inner.zip: more than 4 members: the rest were not read"]


def test_nesting_depth_bounded(tmp_path: Path) -> None:
    data = zip_bytes({"deep.md": b"# Deepest\n\ntext\n"})
    for level in range(4):
        data = zip_bytes({f"l{level}.zip": data, f"top{level}.md": b"# Level %d\n\ntext\n" % level})
    res = read(tmp_path / "russian.zip", data)
    assert titles(res) == {"Level 3", "Level 2", "Level 1"}  # Level 0 is 4 archives deep
    assert res.errors == ["l3.zip: l2.zip: l1.zip: l0.zip: nested more than 3 levels deep, not read",
                          "l3.zip: l2.zip: l1.zip: top0.md: nested more than 3 levels deep, not read"]


def _encrypt_flag(data: bytes, name: bytes) -> bytes:
    out = bytearray(data)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = 0
        while (pos := out.find(sig, pos)) >= 0:
            name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                out[pos + flag_at] |= 0x1
            pos += 4
    return bytes(out)


def test_encrypted_member_is_a_member_error(tmp_path: Path) -> None:
    data = _encrypt_flag(zip_bytes({"secret.md": MD, "open.md": b"# Open\n\ntext\n"}), b"secret.md")
    res = read(tmp_path / "enc.zip", data)
    assert titles(res) == {"Open"}
    assert res.errors == ["secret.md: encrypted (password-protected), not read"]


def test_truncated_zip_keeps_members_before_the_damage(tmp_path: Path) -> None:
    data = zip_bytes({"a.md": b"# First\n\ntext\n", "b.md": b"# Second\n\ntext\n", "c.md": MD * 50})
    cut = data[:data.find(b"PK\x03\x04", data.find(b"c.md") - 40) + 60]  # inside c.md's data
    res = read(tmp_path / "cut.zip", cut)
    assert titles(res) == {"First", "Second"}
    assert res.errors[0].startswith("damaged ZIP archive (File is not a zip file)")
    assert res.errors[1].startswith("archive damaged after 2 members: c.md: member cut off")
    with pytest.raises(ReaderError, match=r"damaged ZIP archive .*no member could be salvaged"):
        read(tmp_path / "cut2.zip", data[:20])
    with pytest.raises(ReaderError, match="not a readable ZIP archive"):
        read(tmp_path / "junk.zip", b"this is not a zip at all")


def test_bad_crc_is_a_member_error(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"a.md": b"# First\n\ntext\n", "b.md": b"# Second\n\ntext\n"}, zipfile.ZIP_STORED))
    pos = data.find(b"# Second")
    data[pos + 2] = ord("Z")
    res = read(tmp_path / "crc.zip", bytes(data))
    assert titles(res) == {"First"}
    (err,) = res.errors
    assert err.startswith("b.md: damaged member, not read (Bad CRC-32")


def test_truncated_tar_keeps_members_before_the_damage(tmp_path: Path) -> None:
    data = tar_bytes({"a.md": b"# First\n\ntext\n", "b.md": MD * 200}, "w")
    res = read(tmp_path / "cut.tar", data[:512 * 3 + 100])  # header a, data a, header b, part of b
    assert titles(res) == {"First"}
    assert res.errors == ["b.md: damaged member, not read (unexpected end of data)",
                          "archive damaged after 2 members: unexpected end of data"]
    gz = tar_bytes({"a.md": b"# First\n\ntext\n", "b.md": bytes(range(256)) * 400}, "w:gz")
    res = read(tmp_path / "cut.tgz", gz[:len(gz) // 2])
    assert titles(res) == {"First"}
    assert res.errors and "damaged" in res.errors[0]
    with pytest.raises(ReaderError, match="not a readable tar archive"):
        read(tmp_path / "junk.tar.gz", b"garbage" * 100)


def test_member_reader_errors_are_prefixed(tmp_path: Path) -> None:
    res = read(tmp_path / "bad.zip", zip_bytes({"docs/broken.pdf": b"%PDF-1.4 not really", "ok.md": MD,
                                                "bin.txt": b"\x00\x00\x00binary"}))
    assert titles(res) == {"Reef survey"}
    assert any(e.startswith("docs/broken.pdf: ") for e in res.errors)
    assert "bin.txt: binary content (NUL bytes), not a text file" in res.errors


def test_hidden_members_skipped(tmp_path: Path) -> None:
    res = read(tmp_path / "mac.zip", zip_bytes({"__MACOSX/._reef.md": b"\x00junk", ".git/HEAD": b"ref",
                                                "reef.md": MD}))
    assert titles(res) == {"Reef survey"}
    assert not res.errors and not res.warnings


# --- real-world archives shipped with the Python standard library's tests -----------------------

def _stdlib(name: str) -> Path:
    p = STDLIB_TEST / name
    if not p.is_file():
        pytest.skip(f"{p} not installed")
    return p


def test_stdlib_testtar(tmp_path: Path) -> None:
    """CPython's tar test archive: every member type (links, devices, sparse, pax/gnu long names)."""
    res = read(_stdlib("testtar.tar"))
    assert not res.errors and not res.nodes  # its members have no suffix a reader takes
    assert any(w.startswith("7 links not followed: ustar/lnktype, ustar/symtype") for w in res.warnings)
    (skipped,) = [w for w in res.warnings if "members no reader takes" in w]
    assert "ustar/regtype" in skipped and "\ufffd" in skipped  # undecodable names made printable
    assert all(w.encode("utf-8") for w in res.warnings)
    res = read(_stdlib("testtar.tar.xz"))  # xz-compressed, one empty member
    assert res.warnings == ["test.txt: empty member, skipped"] and not res.errors


def test_stdlib_recursion_tar() -> None:
    """A tar whose header loops on itself: a clear error, not a hang."""
    p = _stdlib("recursion.tar")
    try:
        res = read(p)
    except ReaderError as e:
        assert str(e) == "not a readable tar archive (no gzip, bzip2, xz or tar header)"
    else:
        assert not res.nodes


def test_stdlib_zips() -> None:
    for name in ("zipdir.zip", "zip_cp437_header.zip", "test_importlib/zipdata01/ziptestdata.zip"):
        p = STDLIB_TEST / name
        if not p.is_file():
            continue
        read(p)  # reads without raising; the members are Python files no reader takes or folders


# --- end to end ---------------------------------------------------------------------------------

def test_end_to_end_provenance_and_removal(tmp_path: Path) -> None:
    from kg.graph import KnowledgeGraph

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "lab.zip").write_bytes(mixed_zip())
    (folder / "more.tar.gz").write_bytes(tar_bytes({"deep/plan.md": b"# Plan\n\nthe plan text\n"}))
    (folder / "loose.md").write_text("# Loose\n\nnot archived\n")
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        rep = g.ingest(folder, embed=False)
        by_name = {Path(f.path).name: f for f in rep.files}
        assert by_name["lab.zip"].reader == "archive" and by_name["lab.zip"].status == "added"
        assert by_name["lab.zip"].warnings == ["1 members no reader takes, skipped: data.bin"]
        docs = {n.properties["title"]: n for n in g.nodes("Document")}
        assert {"Reef survey", "Plan", "Loose"} <= set(docs)
        assert g.store.node_sources(docs["Reef survey"].id) == [str(folder / "lab.zip")]
        assert g.store.node_sources(docs["Plan"].id) == [str(folder / "more.tar.gz")]
        papers = {n.properties["title"]: n for n in g.nodes("Paper")}
        assert g.store.node_sources(papers["Graphs of Reefs"].id) == [str(folder / "lab.zip")]
        chunks = g.neighbors(docs["Reef survey"].id, edge_types=["HAS_CHUNK"], direction="out")
        assert chunks and all(g.store.node_sources(c.id) == [str(folder / "lab.zip")] for c in chunks)
        g.remove(folder / "lab.zip")
        left = {n.properties["title"] for n in g.nodes("Document")}
        assert "Reef survey" not in left and {"Plan", "Loose"} <= left
        assert "Graphs of Reefs" not in {n.properties["title"] for n in g.nodes("Paper")}
