"""One session with Python's imaplib against postern: usage HOST PORT USER PASSWORD.

INBOX holds two delivered messages when this starts (from bob, subjects "first" and
"second"). Every step checks what the server said; the script prints "ALL OK" at the end
and exits non-zero (with the failing step) otherwise.
"""

import imaplib
import sys
import time

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def step(name, result, want="OK"):
    typ, data = result
    if typ != want:
        sys.exit(f"{name}: {typ} {data!r}")
    print(f"{name}: {typ} {data!r}")
    return data


imap = imaplib.IMAP4(host, port)
caps = imap.capabilities
for cap in ("IMAP4REV1", "IDLE", "UIDPLUS", "NAMESPACE", "MOVE"):
    if cap not in caps:
        sys.exit(f"capability {cap} missing from {caps!r}")

step("login", imap.login(user, password))
step("create", imap.create("INBOX.Archive"))
listing = step("list", imap.list())
names = [line.decode().rsplit(" ", 1)[-1].strip('"') for line in listing]
if sorted(names) != ["INBOX", "INBOX.Archive"]:
    sys.exit(f"list: {names!r}")

# The delivered messages get their UIDs when a session first looks at INBOX; look now,
# so the appended message is the third by UID as well as by arrival.
step("select before append", imap.select("INBOX"))
step("close", imap.close())

appended = (
    b"From: Carol <carol@example.org>\r\nTo: alice@example.org\r\n"
    b"Subject: from imaplib\r\nDate: Wed, 5 Jul 2023 08:00:00 +0000\r\n\r\n"
    b"appended by imaplib\r\n"
)
date = imaplib.Time2Internaldate(time.mktime((2023, 7, 5, 8, 0, 0, 0, 0, -1)))
data = step("append", imap.append("INBOX", r"(\Flagged)", date, appended))
if b"[APPENDUID " not in data[0]:
    sys.exit(f"append: no APPENDUID in {data!r}")

count = step("select", imap.select("INBOX"))
if count != [b"3"]:
    sys.exit(f"select: {count!r}")

if step("search all", imap.search(None, "ALL")) != [b"1 2 3"]:
    sys.exit("search all")
if step("search from", imap.search(None, "FROM", "carol")) != [b"3"]:
    sys.exit("search from")
if step("search flagged", imap.search(None, "FLAGGED")) != [b"3"]:
    sys.exit("search flagged")
if step("search unseen", imap.search(None, "UNSEEN")) != [b"1 2 3"]:
    sys.exit("search unseen")

data = step("fetch", imap.fetch("3", "(FLAGS RFC822)"))
if data[0][1] != appended:
    sys.exit(f"fetch: body differs: {data[0][1]!r}")
flags = step("fetch flags", imap.fetch("3", "(FLAGS)"))
if b"\\Seen" not in flags[0]:
    sys.exit(f"fetch RFC822 did not set \\Seen: {flags!r}")

data = step("fetch header", imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
if data[0][1].strip() != b"Subject: first":
    sys.exit(f"fetch header: {data!r}")

data = step("store", imap.store("1", "+FLAGS", r"(\Answered $Label)"))
if b"\\Answered" not in data[0] or b"$Label" not in data[0]:
    sys.exit(f"store: {data!r}")

step("copy", imap.copy("1:2", "INBOX.Archive"))
step("uid copy", imap.uid("COPY", "3", "INBOX.Archive"))
data = step("status", imap.status("INBOX.Archive", "(MESSAGES)"))
if b"MESSAGES 3" not in data[0]:
    sys.exit(f"status: {data!r}")

step("store deleted", imap.store("2", "+FLAGS", r"(\Deleted)"))
data = step("expunge", imap.expunge())
if data != [b"2"]:
    sys.exit(f"expunge: {data!r}")
if step("search after expunge", imap.search(None, "ALL")) != [b"1 2"]:
    sys.exit("search after expunge")

step("namespace", imap.namespace())
step("close", imap.close())
typ, data = imap.logout()
if typ != "BYE":
    sys.exit(f"logout: {typ} {data!r}")
print("ALL OK")
