"""E-mail reader: .eml / .mbox (standard library ``email`` + ``mailbox``) -> Message, Person, threads, attachments."""

from __future__ import annotations

import mailbox
import os
import shutil
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.readers import mail as mail_mod
from ingest.readers.base import FileInfo, select_reader
from ingest.readers.mail import MailReader, message_node_id
from ingest.records import document_id
from kg.errors import ReaderError
from kg.model import Label, Rel

READER = MailReader()
SHARED_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
PDF = SHARED_PDFS / "2020.acl-main.447.pdf"
BODY = ("Dear all,\n\nThe reciprocal rank fusion results are in: hybrid retrieval beats BM25 on every "
        "split.\n\nSee the attached notes.\n\nAnn")


def read(path: Path):
    return READER.read(path, path.read_bytes())


def nodes(res, label):
    return [n for n in res.nodes if n.label == label]


def edges(res, rel=None):
    return {(e.source, e.type, e.target): e.properties for e in res.edges if rel in (None, e.type)}


def make_mail(msg_id: str | None = "<M1@lab.org>", subject: str = "Fusion results", body: str = BODY,
              **headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = headers.pop("From", "Ann Lee <Ann.Lee@Lab.org>")
    m["To"] = headers.pop("To", "Bo Chen <bo@lab.org>, cy@uni.edu")
    m["Cc"] = headers.pop("Cc", "Dee <dee@lab.org>")
    m["Subject"] = subject
    m["Date"] = headers.pop("Date", "Tue, 04 Mar 2025 10:15:00 +0100")
    if msg_id:
        m["Message-ID"] = msg_id
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m


def write(path: Path, m: EmailMessage | bytes) -> Path:
    path.write_bytes(m if isinstance(m, bytes) else m.as_bytes())
    return path


# -- one mail -----------------------------------------------------------------------------------------
def test_eml_becomes_message_people_and_chunks(tmp_path):
    p = write(tmp_path / "a.eml", make_mail())
    res = read(p)
    assert res.errors == [] and res.warnings == []
    (msg,) = nodes(res, Label.MESSAGE)
    assert msg.id == message_node_id("m1@lab.org") == "message:" + __import__("hashlib").sha1(b"m1@lab.org").hexdigest()[:16]
    props = msg.properties
    assert props["subject"] == props["title"] == "Fusion results"
    assert props["date"] == "2025-03-04T10:15:00+01:00"
    assert props["from"] == "ann.lee@lab.org" and props["message_id"] == "M1@lab.org"
    assert props["to"] == ["bo@lab.org", "cy@uni.edu"] and props["cc"] == ["dee@lab.org"]
    assert props["snippet"].startswith("Dear all, The reciprocal rank fusion") and len(props["snippet"]) <= 300
    people = {n.id: n.properties for n in nodes(res, Label.PERSON)}
    assert people == {"person:ann.lee@lab.org": {"address": "ann.lee@lab.org", "name": "Ann Lee"},
                      "person:bo@lab.org": {"address": "bo@lab.org", "name": "Bo Chen"},
                      "person:cy@uni.edu": {"address": "cy@uni.edu"},
                      "person:dee@lab.org": {"address": "dee@lab.org", "name": "Dee"}}
    assert edges(res, Rel.SENT) == {("person:ann.lee@lab.org", Rel.SENT, msg.id): {}}
    assert edges(res, Rel.RECEIVED) == {("person:bo@lab.org", Rel.RECEIVED, msg.id): {"field": "to"},
                                        ("person:cy@uni.edu", Rel.RECEIVED, msg.id): {"field": "to"},
                                        ("person:dee@lab.org", Rel.RECEIVED, msg.id): {"field": "cc"}}
    (chunk,) = nodes(res, Label.CHUNK)
    assert chunk.properties["parent"] == msg.id and "hybrid retrieval beats BM25" in chunk.properties["text"]
    assert (msg.id, Rel.HAS_CHUNK, chunk.id) in edges(res)


def test_html_only_body_is_converted_to_text(tmp_path):
    m = make_mail(body="unused")
    m.set_content("<html><head><style>p{}</style></head><body><nav>menu</nav><p>Graph <b>retrieval</b>"
                  " wins.</p><p>Second para.</p></body></html>", subtype="html")
    res = read(write(tmp_path / "h.eml", m))
    (chunk,) = nodes(res, Label.CHUNK)
    assert chunk.properties["text"] == "Graph retrieval wins. Second para."
    assert nodes(res, Label.MESSAGE)[0].properties["snippet"] == "Graph retrieval wins. Second para."


def test_plain_text_preferred_over_html_alternative(tmp_path):
    m = make_mail(body="plain version")
    m.add_alternative("<p>html version</p>", subtype="html")
    res = read(write(tmp_path / "alt.eml", m))
    assert [c.properties["text"] for c in nodes(res, Label.CHUNK)] == ["plain version"]


def test_mail_without_message_id_gets_a_stable_hash_id(tmp_path):
    a = read(write(tmp_path / "a.eml", make_mail(msg_id=None)))
    b = read(write(tmp_path / "b.eml", make_mail(msg_id=None)))
    c = read(write(tmp_path / "c.eml", make_mail(msg_id=None, subject="Other")))
    ids = [nodes(r, Label.MESSAGE)[0].id for r in (a, b, c)]
    assert ids[0] == ids[1] != ids[2] and ids[0].startswith("message:")


# -- attachments ----------------------------------------------------------------------------------------
@pytest.mark.skipif(not PDF.exists(), reason="shared PDFs not present")
def test_pdf_and_markdown_attachments_are_read_by_their_readers(tmp_path):
    m = make_mail()
    m.add_attachment(PDF.read_bytes(), maintype="application", subtype="pdf", filename="paper.pdf")
    m.add_attachment(b"# Lab notes\n\nWe tried fusion.\n", maintype="text", subtype="markdown",
                     filename="../../notes.md")
    m.add_attachment(b"\x89PNG\r\n\x1a\n....", maintype="image", subtype="png", filename="logo.png")
    p = write(tmp_path / "with-files.eml", m)
    res = read(p)
    assert res.errors == []
    assert res.warnings == ["attachment logo.png: no reader for this kind of file, skipped"]
    (msg,) = [n for n in nodes(res, Label.MESSAGE) if not n.stub]
    assert msg.properties["attachments"] == ["paper.pdf", "notes.md", "logo.png"]
    attached = edges(res, Rel.ATTACHED)
    (paper,) = [n for n in nodes(res, Label.PAPER) if not n.stub]
    assert attached[(msg.id, Rel.ATTACHED, paper.id)] == {"filename": "paper.pdf"}
    (doc,) = nodes(res, Label.DOCUMENT)
    assert doc.id == document_id(f"{p}#notes.md") and doc.properties["title"] == "Lab notes"
    assert attached[(msg.id, Rel.ATTACHED, doc.id)] == {"filename": "notes.md"}
    assert len(attached) == 2
    parents = {c.properties["parent"] for c in nodes(res, Label.CHUNK)}
    assert parents == {msg.id, paper.id, doc.id}


def test_corrupt_pdf_attachment_is_an_error_and_the_mail_is_kept(tmp_path):
    m = make_mail()
    m.add_attachment(b"%PDF-1.7\n1 0 obj << /Type /Catalog", maintype="application", subtype="pdf",
                     filename="broken.pdf")
    res = read(write(tmp_path / "bad-att.eml", m))
    assert len(res.errors) == 1 and res.errors[0].startswith("attachment broken.pdf: ")
    assert "\n" not in res.errors[0]
    assert len(nodes(res, Label.MESSAGE)) == 1 and nodes(res, Label.CHUNK)
    assert not edges(res, Rel.ATTACHED)


def test_zip_bomb_attachment_is_an_error_and_the_mail_is_kept(tmp_path, monkeypatch):
    docx = pytest.importorskip("docx")
    from ingest.readers import word

    monkeypatch.setattr(word, "MAX_MEMBER_BYTES", 1000)  # any real document.xml now "inflates" too far
    d = docx.Document()
    d.add_paragraph("Bleaching results " * 100)
    d.save(tmp_path / "r.docx")
    m = make_mail()
    m.add_attachment((tmp_path / "r.docx").read_bytes(), maintype="application", subtype="octet-stream",
                     filename="report.docx")
    res = read(write(tmp_path / "bomb.eml", m))
    assert len(res.errors) == 1 and res.errors[0].startswith("attachment report.docx: ")
    assert "inflates to" in res.errors[0]
    assert len(nodes(res, Label.MESSAGE)) == 1


def test_forwarded_mail_is_read_as_a_nested_message(tmp_path):
    inner = make_mail(msg_id="<inner@lab.org>", subject="Original", body="the original text")
    outer = make_mail(msg_id="<outer@lab.org>", subject="Fwd: Original", body="see below")
    outer.add_attachment(inner)
    res = read(write(tmp_path / "fwd.eml", outer))
    ids = {n.id for n in nodes(res, Label.MESSAGE)}
    assert ids == {message_node_id("outer@lab.org"), message_node_id("inner@lab.org")}
    assert (message_node_id("outer@lab.org"), Rel.ATTACHED, message_node_id("inner@lab.org")) in edges(res)


# -- threads --------------------------------------------------------------------------------------------
def test_reply_points_at_a_stub_of_the_answered_mail(tmp_path):
    reply = make_mail(msg_id="<M2@lab.org>", subject="Re: Fusion results", body="Great!",
                      In_Reply_To="<M1@lab.org>", References="<M0@lab.org> <M1@lab.org>")
    res = read(write(tmp_path / "b.eml", reply))
    stub = next(n for n in nodes(res, Label.MESSAGE) if n.stub)
    assert stub.id == message_node_id("<m1@LAB.org>") and stub.properties == {"message_id": "M1@lab.org"}
    assert edges(res, Rel.REPLY_TO) == {(message_node_id("M2@lab.org"), Rel.REPLY_TO, stub.id): {}}
    only_refs = make_mail(msg_id="<M3@lab.org>", References="<M0@lab.org> <M2@lab.org>")
    res = read(write(tmp_path / "c.eml", only_refs))
    assert set(edges(res, Rel.REPLY_TO)) == {(message_node_id("M3@lab.org"), Rel.REPLY_TO, message_node_id("M2@lab.org"))}


# -- mbox -----------------------------------------------------------------------------------------------
def make_mbox(path: Path) -> Path:
    box = mailbox.mbox(str(path), create=True)
    box.add(make_mail(msg_id="<A@x.org>", subject="First", body="From here on the first mail.\n\nOK"))
    box.add(b"\x00\x01\x02 this is not a mail \xff\xfe")
    box.add(make_mail(msg_id="<C@x.org>", subject="Third", body="Third body", In_Reply_To="<A@x.org>"))
    box.flush()
    box.close()
    return path


def test_mbox_one_message_per_mail_and_a_broken_one_is_an_error(tmp_path):
    res = read(make_mbox(tmp_path / "inbox.mbox"))
    assert res.errors == ["mail 2: not an e-mail: no RFC 822 headers at the start"]
    msgs = {n.properties["subject"]: n for n in nodes(res, Label.MESSAGE) if not n.stub}
    assert set(msgs) == {"First", "Third"}
    # ">From" escaping undone, and each mail's chunks have their own ids
    texts = {c.properties["parent"]: c.properties["text"] for c in nodes(res, Label.CHUNK)}
    assert texts[msgs["First"].id] == "From here on the first mail. OK"
    assert len({c.id for c in nodes(res, Label.CHUNK)}) == 2
    assert (msgs["Third"].id, Rel.REPLY_TO, msgs["First"].id) in edges(res)


def test_mbox_with_no_readable_mail_raises(tmp_path):
    p = tmp_path / "junk.mbox"
    p.write_bytes(b"From x@y Mon Jan  1 00:00:00 2024\nSubject: x\n\n")
    assert len(nodes(read(p), Label.MESSAGE)) == 1
    p.write_bytes(b"From x@y Mon Jan  1 00:00:00 2024\n\x00\x01junk\n")
    with pytest.raises(ReaderError):
        read(p)


# -- bad input ------------------------------------------------------------------------------------------
def test_empty_and_binary_junk_are_one_line_errors(tmp_path):
    for data, message in ((b"", "empty file"), (b" \n\n", "empty file"),
                          (os.urandom(2048).replace(b":", b"") + b"\x00", "not an e-mail"),
                          (b"\x89PNG\r\n\x1a\n\x00\x00", "not an e-mail")):
        p = tmp_path / "junk.eml"
        p.write_bytes(data)
        with pytest.raises(ReaderError, match=message) as info:
            read(p)
        assert "\n" not in str(info.value)


def test_broken_mime_is_read_with_warnings(tmp_path):
    no_boundary = (b"From: a@b.org\nSubject: no boundary\nMessage-ID: <nb@b.org>\n"
                   b"Content-Type: multipart/mixed\n\nthe body text survives\n")
    res = read(write(tmp_path / "nb.eml", no_boundary))
    assert [c.properties["text"] for c in nodes(res, Label.CHUNK)] == ["the body text survives"]
    assert res.errors == [] and "NoBoundaryInMultipartDefect" in res.warnings[0]

    bad_b64 = (b"From: a@b.org\nSubject: bad base64\nContent-Type: text/plain; charset=utf-8\n"
               b"Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=!!*\n")
    res = read(write(tmp_path / "b64.eml", bad_b64))
    assert nodes(res, Label.CHUNK)[0].properties["text"] == "hello world"
    assert "InvalidBase64CharactersDefect" in res.warnings[0]

    bad_charset = (b"From: a@b.org\nSubject: charset\nContent-Type: text/plain; charset=x-no-such\n\n"
                   b"caf\xe9 cr\xe8me\n")
    res = read(write(tmp_path / "cs.eml", bad_charset))
    assert nodes(res, Label.CHUNK)[0].properties["text"] == "caf\ufffd cr\ufffdme"
    assert res.warnings == ["unknown charset 'x-no-such': decoded as UTF-8 with replacement characters"]

    bad_bytes = b"From: a@b.org\nSubject: bytes\nContent-Type: text/plain; charset=utf-8\n\ncaf\xe9\n"
    res = read(write(tmp_path / "bb.eml", bad_bytes))
    assert res.warnings == ["bytes not valid utf-8: replaced"]

    bad_date = b"From: a@b.org\nSubject: d\nDate: the day after tomorrow\n\nx\n"
    res = read(write(tmp_path / "d.eml", bad_date))
    assert "date" not in nodes(res, Label.MESSAGE)[0].properties
    assert res.warnings == ["unparseable Date header 'the day after tomorrow'"]


def test_mail_bomb_of_parts_is_cut_and_bounded(tmp_path):
    parts = b"".join(b"--B\nContent-Type: text/plain\n\npart %d\n" % i for i in range(30_000))
    bomb = (b"From: a@b.org\nSubject: bomb\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n"
            + parts + b"--B--\n")
    t0 = time.perf_counter()
    res = read(write(tmp_path / "bomb.eml", bomb))
    assert time.perf_counter() - t0 < 10
    assert "over 1000 MIME parts (MAX_PARTS): the rest skipped" in res.warnings
    assert len(nodes(res, Label.MESSAGE)) == 1


def test_deep_nesting_is_bounded(tmp_path):
    head = b"From: a@b.org\nSubject: deep\nMIME-Version: 1.0\n"
    nest = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(5000))
    t0 = time.perf_counter()
    with pytest.raises(ReaderError, match=r"^MIME parts nested too deeply$"):
        read(write(tmp_path / "deep.eml", head + nest + b"Content-Type: text/plain\n\nleaf\n"))
    assert time.perf_counter() - t0 < 10
    mbox = b"From a@b Mon Jan  1 00:00:00 2024\n" + head + nest + b"\n\nFrom a@b Mon Jan  1 00:00:00 2024\n" \
        + make_mail().as_bytes()
    res = read(write(tmp_path / "deep.mbox", mbox))  # in an mbox: that mail is an error, the next one is kept
    assert res.errors == ["mail 1: MIME parts nested too deeply"] and len(nodes(res, Label.MESSAGE)) == 1


def test_decoded_bytes_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(mail_mod, "MAX_DECODED_BYTES", 1500)
    m = make_mail(body="short")
    for i in range(3):
        m.add_attachment((f"# Note {i}\n\n" + "word " * 150).encode(), maintype="text", subtype="markdown",
                         filename=f"n{i}.md")
    res = read(write(tmp_path / "big.eml", m))
    assert "decoded parts over 1500 bytes (MAX_DECODED_BYTES): the rest skipped" in res.warnings
    assert 1 <= len(nodes(res, Label.DOCUMENT)) < 3


# -- sniffing -------------------------------------------------------------------------------------------
def test_sniff_is_conservative(tmp_path):
    def pick(name: str, head: bytes) -> str | None:
        r = select_reader(FileInfo(tmp_path / name, head))
        return r.name if r else None

    assert pick("a.eml", b"") == pick("a.MBOX", b"") == "mail"
    assert pick("saved.txt", make_mail().as_bytes()) == "mail"
    assert pick("noext", b"From ann@x.org Mon Jan  1 00:00:00 2024\nSubject: hi\n\nbody") == "mail"
    assert pick("notes.txt", b"From: Ann\nTo: Bo\n\nmeeting notes") == "text"  # memo, not a mail
    assert pick("notes.txt", b"Title: x\nAuthor: y\nDate: z\n\ntext") == "text"
    assert pick("notes.txt", b"From here we go.\nSubject: none\n") == "text"
    assert pick("notes.md", make_mail().as_bytes()) == "markdown"


# -- real-world samples -----------------------------------------------------------------------------------
def _cpython_mails() -> Path | None:
    try:
        import test  # the CPython test package; optional in many Python installs
    except ImportError:
        return None
    d = Path(test.__file__).parent / "test_email" / "data"
    return d if (d / "msg_07.txt").exists() else None


def test_real_mails_from_cpython_test_data(tmp_path):
    d = _cpython_mails()
    if d is None:
        pytest.skip("CPython's test_email data is not installed")
    read_ok = 0
    for src in sorted(d.glob("msg_*.txt")):
        p = tmp_path / (src.stem + ".eml")
        shutil.copyfile(src, p)
        try:
            res = read(p)
        except ReaderError as e:
            assert "\n" not in str(e)
            continue
        read_ok += 1
        assert [n for n in nodes(res, Label.MESSAGE) if not n.stub]
    assert read_ok >= 40
    res = read(Path(shutil.copyfile(d / "msg_07.txt", tmp_path / "dingus.eml")))
    (msg,) = nodes(res, Label.MESSAGE)
    assert msg.properties["subject"] == "Here is your dingus fish"
    assert msg.properties["from"] == "barry@digicool.com"
    assert res.warnings == ["attachment dingusfish.gif: no reader for this kind of file, skipped"]
    res = read(Path(shutil.copyfile(d / "msg_02.txt", tmp_path / "digest.eml")))  # a MIME digest
    forwarded = [e for e in res.edges if e.type == Rel.ATTACHED]
    assert len(forwarded) >= 2 and all(e.target.startswith("message:") for e in forwarded)


# -- end to end -----------------------------------------------------------------------------------------
def test_ingest_end_to_end(tmp_path):
    from kg.graph import KnowledgeGraph

    folder = tmp_path / "mail"
    folder.mkdir()
    reply = make_mail(msg_id="<M2@lab.org>", subject="Re: Fusion results", body="Great, thanks!",
                      From="Bo Chen <bo@lab.org>", To="ann.lee@lab.org", In_Reply_To="<M1@lab.org>")
    write(folder / "b.eml", reply)
    (folder / "junk.eml").write_bytes(b"\x00\x01\x02garbage")
    m1 = message_node_id("M1@lab.org")
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        g.ingest(folder, embed=False)
        assert g.node(m1).properties == {"message_id": "M1@lab.org", "stub": True}  # a stub so far

        original = make_mail()
        original.add_attachment(b"# Lab notes\n\nWe tried reciprocal rank fusion.\n", maintype="text",
                                subtype="markdown", filename="notes.md")
        write(folder / "a.eml", original)
        make_mbox(folder / "inbox.mbox")
        rep = g.ingest(folder, embed=False)
        by = {Path(f.path).name: f for f in rep.files}
        assert by["a.eml"].reader == by["inbox.mbox"].reader == "mail"
        assert by["inbox.mbox"].errors == ["mail 2: not an e-mail: no RFC 822 headers at the start"]

        msg = g.node(m1)
        assert msg.label == Label.MESSAGE and msg.properties["subject"] == "Fusion results"
        assert "stub" not in msg.properties
        assert g.store.node_sources(m1) == sorted([str(folder / "a.eml"), str(folder / "b.eml")])
        doc = g.node(document_id(f"{folder / 'a.eml'}#notes.md"))
        assert doc.sources == (str(folder / "a.eml"),)  # provenance of an attachment: the mail
        all_edges = {(e.source, e.type, e.target) for e in g.edges()}
        assert (m1, Rel.ATTACHED, doc.id) in all_edges
        assert (message_node_id("M2@lab.org"), Rel.REPLY_TO, m1) in all_edges
        assert ("person:ann.lee@lab.org", Rel.SENT, m1) in all_edges
        assert ("person:bo@lab.org", Rel.SENT, message_node_id("M2@lab.org")) in all_edges
        assert g.node("person:bo@lab.org").properties == {"address": "bo@lab.org", "name": "Bo Chen"}
        subjects = {n.properties.get("subject") for n in g.nodes(Label.MESSAGE)}
        assert {"Fusion results", "Re: Fusion results", "First", "Third"} <= subjects
        hits = g.search("fusion results", mode="bm25", k=5)
        assert m1 in [h.id for h in hits]
