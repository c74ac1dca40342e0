"""E-mail reader: ``.eml`` files and ``.mbox`` mailboxes -> ``Message`` nodes, people, threads.

Parsed with the standard library (:mod:`email`, ``policy=email.policy.default``). Each mail
becomes:

* a ``Message`` node, ``message:<sha1(lower-cased Message-ID)[:16]>`` (a mail without one:
  a hash of From + Date + Subject), with ``subject`` (also ``title``), ``date`` (ISO 8601),
  ``from``, ``to``, ``cc``, ``message_id``, ``in_reply_to``, ``attachments`` and ``snippet`` (the
  first :data:`SNIPPET_CHARS` characters of the body);
* the body (``text/plain`` parts, else ``text/html`` converted to text as the HTML reader does)
  as ``Chunk`` nodes (``HAS_CHUNK``);
* a ``Person`` per address, ``person:<lower-cased address>`` (``name`` from the display name),
  with ``SENT`` (sender) and ``RECEIVED`` (``field``: ``to``/``cc``/``bcc``) edges;
* ``REPLY_TO`` to the mail it answers (``In-Reply-To``, else the last ``References`` id): a stub
  ``Message`` that the answered mail's own record fills in when it is ingested;
* each attachment (and each forwarded ``message/rfc822`` part) read by the reader the registry
  picks for its name (:func:`ingest.readers.base.read_nested`, path ``<mail>#<name>``), its records
  merged in, and ``ATTACHED`` from the Message to the attachment's Paper/Document (or Message).
  An attachment no reader takes is a warning; one its reader refuses is an error naming it.

An ``.mbox`` (any file starting with a ``From`` separator line) gives one Message per mail; a
mail that cannot be read is an error naming its 1-based index, the others are kept. Broken MIME
(no boundary, bad base64, unknown charset) is read as far as it goes, with a warning. Bounded:
at most :data:`MAX_PARTS` MIME parts per mail and :data:`MAX_DECODED_BYTES` decoded bytes per
file, each cut with a warning. Empty files and files that do not start with mail headers raise
:class:`kg.errors.ReaderError`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.readers.base import HEAD_BYTES, FileInfo, read_nested, register_reader, select_reader
from ingest.records import chunk_records
from kg.errors import KGError, ReaderError
from kg.ids import short_hash
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel

MAX_PARTS = 1000
"""MIME parts read per mail; a mail with more is cut (with a warning) before it is parsed."""

MAX_DECODED_BYTES = 50 * 2**20
"""Decoded bytes (bodies and attachments) read per file; later parts are skipped with a warning."""

MAX_BODY_CHARS = 2_000_000
"""Body text kept per mail; the rest is cut with a warning."""

SNIPPET_CHARS = 300
"""Length of a Message's ``snippet`` property."""

SNIFF_SUFFIXES = ("", ".txt", ".text", ".mail", ".mbx", ".msg")
"""Suffixes whose files are read as mail when their content starts like one."""

_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")
_MBOX_FROM = re.compile(rb"From \S+[^\n]*\d{4}[ \t]*\r?\n")
_SEPARATOR = re.compile(rb"\n\r?\n(?=From )")
_ESCAPED_FROM = re.compile(rb"(?m)^>(>*From )")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_STRONG = frozenset({b"message-id", b"received", b"mime-version", b"return-path", b"delivered-to",
                     b"in-reply-to", b"references", b"x-mailer", b"dkim-signature"})
_COMMON = frozenset({b"from", b"to", b"cc", b"subject", b"date", b"reply-to", b"sender"})
_PARSER = BytesParser(policy=policy.default)


def header_block(data: bytes, max_lines: int = 200) -> list[bytes] | None:
    """The field names of the header block at the start of ``data`` (lower-case), or None when
    a line before the first blank one is neither a header nor a continuation."""
    names: list[bytes] = []
    for i, line in enumerate(data[:HEAD_BYTES].split(b"\n")):
        line = line.rstrip(b"\r")
        if not line or i >= max_lines:
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        if not _HEADER.match(line):
            return None
        names.append(line.split(b":", 1)[0].strip().lower())
    return names or None


def looks_like_eml(head: bytes) -> bool:
    """Whether ``head`` starts with an RFC 822 header block that is clearly a mail's: a header
    only mail has (Message-ID, Received, MIME-Version, ...) or three of From/To/Cc/Subject/Date.

    >>> looks_like_eml(b"From: a@b.c\\nTo: d@e.f\\nSubject: hi\\n\\nbody"), looks_like_eml(b"Title: x\\n\\ny")
    (True, False)
    """
    if b"\x00" in head[:8192]:
        return False
    names = set(header_block(head) or ())
    return bool(names & _STRONG) or len(names & _COMMON) >= 3


def looks_like_mbox(head: bytes) -> bool:
    """Whether ``head`` starts with an mbox ``From <sender> <date>`` line followed by headers."""
    m = _MBOX_FROM.match(head)
    return m is not None and header_block(head[m.end():]) is not None


def split_mbox(data: bytes) -> list[bytes]:
    """The mails of an mbox: split at ``From`` lines that follow a blank line (or start the
    file), separator line dropped, ``>From`` un-escaped."""
    starts = [0, *(m.end() for m in _SEPARATOR.finditer(data))]
    out = []
    for s, e in zip(starts, [*starts[1:], len(data)], strict=True):
        piece = data[s:e]
        nl = piece.find(b"\n")
        body = piece[nl + 1:] if nl >= 0 else b""
        out.append(_ESCAPED_FROM.sub(rb"\1", body))
    return out


def normalize_message_id(value: str) -> str:
    """``" <Abc@Host> "`` -> ``"Abc@Host"`` (ids compare lower-cased, see :func:`message_node_id`)."""
    return value.strip().strip("<>").strip()


def message_node_id(message_id: str) -> str:
    """The node id of the Message with this Message-ID.

    >>> message_node_id("<A1@x.org>") == message_node_id("a1@X.org")
    True
    """
    return "message:" + short_hash(normalize_message_id(message_id).lower(), 16)


def person_node_id(address: str) -> str:
    """The node id of the Person with this address (lower-cased)."""
    return "person:" + address.strip().strip("<>").lower()


def referenced_ids(value: str) -> list[str]:
    """Message-IDs in an ``In-Reply-To``/``References`` value, in order.

    >>> referenced_ids("<a@x> (comment) <b@y>"), referenced_ids("c@z")
    (['a@x', 'b@y'], ['c@z'])
    """
    ids = _ANGLE_ID.findall(value)
    return ids or [t for t in value.split() if "@" in t]


def cap_parts(raw: bytes, limit: int = MAX_PARTS) -> tuple[bytes, bool]:
    """``raw`` cut before its ``limit``-th MIME boundary line (so parsing stays bounded), and
    whether it was cut."""
    for count, m in enumerate(re.finditer(rb"(?m)^--", raw), 1):
        if count > limit:
            return raw[:m.start()], True
    return raw, False


def html_to_text(html: str) -> str:
    """The text of an HTML body, as the HTML reader takes a page's text."""
    from selectolax.lexbor import LexborHTMLParser

    from ingest.readers.html import DROP_TAGS, MAX_DEPTH, main_text, nesting_depth

    if nesting_depth(html) > MAX_DEPTH:
        return ""
    tree = LexborHTMLParser(html)
    tree.strip_tags(DROP_TAGS)
    return main_text(tree.body) if tree.body is not None else ""


@dataclass
class _Budget:
    """Decoded bytes left for the file, and whether the cut was reported."""

    left: int = field(default_factory=lambda: MAX_DECODED_BYTES)
    warned: bool = False


@dataclass
class _Mail:
    """One mail being turned into records."""

    path: Path  # the file
    budget: _Budget
    in_mbox: bool = False  # one of several mails: its chunks and attachments are keyed by file#mail
    key_path: str = ""  # identity of this mail's chunks and attachments (set by read_mail)
    out: ReadResult = field(default_factory=ReadResult)
    warnings: list[str] = field(default_factory=list)

    def header(self, msg: Message, name: str) -> str:
        """A header's decoded value ('' when absent; the raw value when it does not parse)."""
        try:
            value = msg.get(name)
        except Exception:  # a header the policy cannot parse: take it raw
            value = next((v for k, v in msg.raw_items() if k.lower() == name), None)
        return " ".join(str(value).split()) if value is not None else ""

    def addresses(self, msg: Message, name: str) -> list[tuple[str, str]]:
        """``(display name, lower-case address)`` of an address header; addresses without ``@`` dropped."""
        pairs: list[tuple[str, str]] = []
        try:
            for h in msg.get_all(name) or []:
                pairs.extend((a.display_name, a.addr_spec) for a in getattr(h, "addresses", ()))
        except Exception:
            pairs = getaddresses([str(v) for k, v in msg.raw_items() if k.lower() == name])
        out = []
        for display, addr in pairs:
            addr = addr.strip().strip("<>").lower()
            if "@" in addr and not any(c.isspace() for c in addr) and len(addr) <= 320:
                out.append((" ".join(display.split()), addr))
        return out

    def payload(self, part: Message) -> bytes | None:
        """A leaf part's decoded bytes, or None once the file's decoded-bytes budget is spent."""
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        if len(data) > self.budget.left:
            if not self.budget.warned:
                self.budget.warned = True
                self.warnings.append(
                    f"decoded parts over {MAX_DECODED_BYTES} bytes (MAX_DECODED_BYTES): the rest skipped")
            return None
        self.budget.left -= len(data)
        return data

    def text(self, part: Message, data: bytes) -> str:
        """Bytes of a text part decoded by its charset (unknown charset or bad bytes: replaced, warned)."""
        charset = part.get_content_charset() or "utf-8"
        try:
            codecs.lookup(charset)
        except LookupError:
            self.warnings.append(f"unknown charset {charset!r}: decoded as UTF-8 with replacement characters")
            return data.decode("utf-8", errors="replace")
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            self.warnings.append(f"bytes not valid {charset}: replaced")
            return data.decode(charset, errors="replace")


def _leaves(msg: Message, mail: _Mail) -> list[Message]:
    """The non-multipart parts of a mail, in order (iterative, at most :data:`MAX_PARTS`)."""
    stack: list[Message] = [msg]
    leaves: list[Message] = []
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            mail.warnings.append(f"over {MAX_PARTS} MIME parts (MAX_PARTS): the rest skipped")
            break
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            leaves.append(part)
    return leaves


def _attachment_name(part: Message, index: int, used: set[str]) -> str:
    """A safe, unique file name for an attachment (directories stripped, suffix kept)."""
    import mimetypes

    try:
        raw = part.get_filename() or ""
    except Exception:
        raw = ""
    name = Path(str(raw).replace("\\", "/")).name.strip().replace("\x00", "")
    if part.get_content_type() == "message/rfc822" and not name.lower().endswith(".eml"):
        name = f"{name or f'forwarded-{index}'}.eml"
    if not name or name in (".", ".."):
        name = f"attachment-{index}{mimetypes.guess_extension(part.get_content_type()) or '.bin'}"
    stem, suffix, k = Path(name).stem, Path(name).suffix, 2
    while name in used:
        name, k = f"{stem}-{k}{suffix}", k + 1
    used.add(name)
    return name


def _read_attachment(mail: _Mail, mid: str, name: str, data: bytes) -> None:
    """Read one attachment with the registry's reader and link its main node with ATTACHED."""
    inner = Path(f"{mail.key_path}/{name}" if mail.in_mbox else f"{mail.key_path}#{name}")
    prefix = f"attachment {name}: "
    if not data:
        mail.warnings.append(prefix + "empty, skipped")
        return
    if select_reader(FileInfo(inner, data[:HEAD_BYTES])) is None:
        mail.warnings.append(prefix + "no reader for this kind of file, skipped")
        return
    try:
        _, res = read_nested(inner, data)
    except (KGError, RecursionError) as e:
        msg = str(e).removeprefix(f"{inner.name}: ") if isinstance(e, KGError) else "nested too deeply"
        mail.out.errors.append(prefix + msg)
        return
    except Exception as e:  # a reader bug must not lose the mail
        mail.out.errors.append(prefix + f"reader failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
        return
    mail.out.nodes.extend(res.nodes)
    mail.out.edges.extend(res.edges)
    mail.out.errors.extend(prefix + e for e in res.errors)
    mail.out.warnings.extend(prefix + w for w in res.warnings)
    main = next((n for n in res.nodes if n.label in (Label.PAPER, Label.DOCUMENT) and not n.stub), None) \
        or next((n for n in res.nodes if n.label == Label.MESSAGE and not n.stub), None)
    if main is not None:
        mail.out.edges.append(EdgeRecord(mid, main.id, Rel.ATTACHED, {"filename": name}))


def read_mail(raw: bytes, mail: _Mail, *, fallback_key: str) -> str:
    """Add one mail's records to ``mail.out``; returns its Message id. Raises ReaderError when
    the bytes are not a mail at all."""
    if header_block(raw) is None or b"\x00" in raw[:min(len(raw), 4096)].split(b"\n\n", 1)[0]:
        raise ReaderError("not an e-mail: no RFC 822 headers at the start")
    raw, cut = cap_parts(raw)
    if cut:
        mail.warnings.append(f"over {MAX_PARTS} MIME parts (MAX_PARTS): the rest skipped")
    try:
        msg = _PARSER.parsebytes(raw)
    except RecursionError:
        raise ReaderError("MIME parts nested too deeply") from None
    except Exception as e:
        raise ReaderError(f"unparseable mail: {type(e).__name__}: {str(e)[:200]}") from None
    subject = mail.header(msg, "subject")
    senders = mail.addresses(msg, "from")
    raw_from = mail.header(msg, "from")
    date = _date(mail, msg)
    message_id = normalize_message_id(mail.header(msg, "message-id"))
    if message_id:
        mid = message_node_id(message_id)
    elif raw_from or date or subject:
        mid = "message:" + short_hash(f"{raw_from}\n{mail.header(msg, 'date')}\n{subject}", 16)
    else:
        mid = "message:" + short_hash(fallback_key, 16)
    key = mail.key_path = f"{mail.path}#{mid.split(':', 1)[1]}" if mail.in_mbox else str(mail.path)

    plain: list[str] = []
    html: list[str] = []
    attachments: list[tuple[str, bytes]] = []
    used: set[str] = set()
    leaves = _leaves(msg, mail)
    for i, part in enumerate(leaves):
        ctype = part.get_content_type()
        try:
            disposition, filename = part.get_content_disposition(), part.get_filename()
        except Exception:
            disposition, filename = "attachment", None
        if ctype == "message/rfc822":
            inner = part.get_payload(0) if isinstance(part.get_payload(), list) else None
            try:
                data: bytes | None = inner.as_bytes(policy=policy.default) if isinstance(inner, Message) else None
            except Exception:
                data = None
            if data is not None and len(data) <= mail.budget.left:
                mail.budget.left -= len(data)
                attachments.append((_attachment_name(part, i, used), data))
            continue
        is_body = not filename and disposition != "attachment" and (
            ctype in ("text/plain", "text/html") or part.get_content_maintype() == "multipart")
        if not (is_body or filename or disposition == "attachment"):
            continue  # an inline image or other part without a name: nothing to read
        data = mail.payload(part)
        if data is None:
            continue
        if is_body:
            (html if ctype == "text/html" else plain).append(mail.text(part, data))
        else:
            attachments.append((_attachment_name(part, i, used), data))
    defects = {type(d).__name__ for part in (msg, *leaves) for d in part.defects}  # after decoding: base64 ones
    if defects:
        mail.warnings.append(f"malformed MIME ({', '.join(sorted(defects))}): read as far as it goes")

    body = "\n\n".join(t.strip() for t in plain if t.strip())
    if not body and html:
        body = "\n\n".join(t for t in (html_to_text(h) for h in html) if t.strip())
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]
        mail.warnings.append(f"body cut at {MAX_BODY_CHARS} characters (MAX_BODY_CHARS)")

    parents = referenced_ids(mail.header(msg, "in-reply-to")) or referenced_ids(mail.header(msg, "references"))[-1:]
    parent = normalize_message_id(parents[0]) if parents else ""
    recipients = {f: mail.addresses(msg, f) for f in ("to", "cc", "bcc")}
    props: dict[str, Any] = {
        "subject": subject, "title": subject, "date": date,
        "from": senders[0][1] if senders else raw_from, "message_id": message_id,
        "to": [a for _, a in recipients["to"]], "cc": [a for _, a in recipients["cc"]],
        "in_reply_to": parent, "attachments": [n for n, _ in attachments],
        "snippet": " ".join(body.split())[:SNIPPET_CHARS], "format": "email", "path": str(mail.path),
        "n_chars": len(body)}
    mail.out.nodes.append(NodeRecord(mid, Label.MESSAGE, {k: v for k, v in props.items() if v not in ("", [], None)}))
    for field_name, people in (("from", senders), *recipients.items()):
        for display, addr in people:
            pid = person_node_id(addr)
            mail.out.nodes.append(NodeRecord(pid, Label.PERSON, {"address": addr, **({"name": display} if display else {})}))
            mail.out.edges.append(EdgeRecord(pid, mid, Rel.SENT) if field_name == "from"
                                  else EdgeRecord(pid, mid, Rel.RECEIVED, {"field": field_name}))
    if parent and message_node_id(parent) != mid:
        mail.out.nodes.append(NodeRecord(message_node_id(parent), Label.MESSAGE, {"message_id": parent}, stub=True))
        mail.out.edges.append(EdgeRecord(mid, message_node_id(parent), Rel.REPLY_TO))
    if body.strip():
        mail.out.extend(chunk_records(mid, key, chunk_text(body)))
    for name, data in attachments:
        _read_attachment(mail, mid, name, data)
    return mid


def _date(mail: _Mail, msg: Message) -> str:
    """The Date header as ISO 8601 ('' when absent; unparseable: a warning)."""
    raw = mail.header(msg, "date")
    if not raw:
        return ""
    try:
        dt = getattr(msg.get("date"), "datetime", None) or parsedate_to_datetime(raw)
    except Exception:
        dt = None
    if dt is None:
        mail.warnings.append(f"unparseable Date header {raw[:60]!r}")
        return ""
    return str(dt.isoformat())


class MailReader:
    """``.eml`` and ``.mbox`` files, and text files that start like a mail or an mbox."""

    name = "mail"
    priority = 5
    extensions = (".eml", ".mbox")

    def sniff(self, info: FileInfo) -> bool:
        """A mail extension, or (for extension-less and ``.txt``-like files) mail-like content."""
        suffix = info.path.suffix.lower()
        if suffix in self.extensions:
            return True
        return suffix in SNIFF_SUFFIXES and (looks_like_mbox(info.head) or looks_like_eml(info.head))

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Message (an .eml) or one per mail (an mbox) with people, chunks and attachments."""
        if not data.strip():
            raise ReaderError("empty file")
        budget = _Budget()
        if not looks_like_mbox(data[:HEAD_BYTES]):
            mail = _Mail(path, budget)
            read_mail(data.lstrip(b"\r\n"), mail, fallback_key=str(path))
            mail.out.warnings.extend(mail.warnings)
            return mail.out
        out = ReadResult()
        seen: set[str] = set()
        mails = split_mbox(data)
        for i, raw in enumerate(mails, 1):
            mail = _Mail(path, budget, in_mbox=True)
            try:
                mid = read_mail(raw, mail, fallback_key=f"{path}#{i}")
            except ReaderError as e:
                out.errors.append(f"mail {i}: {e}")
                continue
            if mid in seen:
                out.warnings.append(f"mail {i}: duplicate Message-ID, skipped")
                continue
            seen.add(mid)
            out.extend(mail.out)
            out.warnings.extend(f"mail {i}: {w}" for w in mail.warnings)
        if not seen:
            raise ReaderError(f"no readable mail in the mbox ({out.errors[0] if out.errors else 'empty'})")
        return out


register_reader(MailReader())
