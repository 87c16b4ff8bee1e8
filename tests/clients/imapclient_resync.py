"""A mail client's folder cache kept current with Python's imapclient (PyPI), as
tests/imap_resync_client.rs drives it: one sync per run, the cache in a JSON file.

usage: imapclient_resync.py HOST PORT USER PASS STATE MODE
  full       ENABLE CONDSTORE, SELECT, UID FETCH 1:* (FLAGS MODSEQ): the whole folder
  condstore  ENABLE CONDSTORE, SELECT, UID FETCH 1:* (FLAGS) (CHANGEDSINCE n); UID SEARCH
             ALL only when the message count says something was expunged (RFC 7162 §3.1,
             the resync a CONDSTORE-only client does)
  qresync    ENABLE QRESYNC, SELECT INBOX (QRESYNC (uidvalidity n)): VANISHED (EARLIER)
             and the changed messages in the SELECT's answer (RFC 7162 §3.2.5); imapclient
             has no QRESYNC call, so the SELECT goes through its imaplib connection and the
             FETCH lines through imapclient's own FETCH parser
Prints the cache's size and HIGHESTMODSEQ.
"""

import json
import sys

from imapclient import IMAPClient
from imapclient.response_parser import parse_fetch_response


def clean(flags):
    return sorted(f.decode() for f in flags if f.lower() != b"\\recent")


def uids_of(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition(":")
        lo, hi = int(a), int(b or a)
        out.extend(range(min(lo, hi), max(lo, hi) + 1))
    return out


def highest_in(oks):
    for line in oks:
        text = line.decode() if isinstance(line, bytes) else line
        if text.startswith("[HIGHESTMODSEQ "):
            return int(text[len("[HIGHESTMODSEQ "):].split("]")[0])
    raise SystemExit("no HIGHESTMODSEQ in the SELECT answer: %r" % (oks,))


def main():
    host, port, user, password, path, mode = sys.argv[1:7]
    client = IMAPClient(host, port=int(port), ssl=False)
    client.login(user, password)
    if mode == "full":
        assert client.enable("CONDSTORE") == [b"CONDSTORE"]
        sel = client.select_folder("INBOX")
        data = client.fetch("1:*", ["FLAGS", "MODSEQ"])
        state = {
            "uidvalidity": sel[b"UIDVALIDITY"],
            "highest": sel[b"HIGHESTMODSEQ"],
            "flags": {str(uid): clean(d[b"FLAGS"]) for uid, d in data.items()},
        }
    else:
        with open(path) as f:
            state = json.load(f)
        if mode == "condstore":
            assert client.enable("CONDSTORE") == [b"CONDSTORE"]
            sel = client.select_folder("INBOX")
            assert sel[b"UIDVALIDITY"] == state["uidvalidity"]
            changed = client.fetch(
                "1:*", ["FLAGS"], modifiers=["CHANGEDSINCE %d" % state["highest"]]
            )
            for uid, d in changed.items():
                state["flags"][str(uid)] = clean(d[b"FLAGS"])
            if sel[b"EXISTS"] != len(state["flags"]):
                present = {str(u) for u in client.search("ALL")}
                state["flags"] = {
                    u: f for u, f in state["flags"].items() if u in present
                }
            state["highest"] = sel[b"HIGHESTMODSEQ"]
        elif mode == "qresync":
            assert client.enable("QRESYNC") == [b"QRESYNC"]
            imap = client._imap
            typ, data = imap._simple_command(
                "SELECT",
                "INBOX",
                "(QRESYNC (%d %d))" % (state["uidvalidity"], state["highest"]),
            )
            assert typ == "OK", (typ, data)
            untagged = imap.untagged_responses
            for v in untagged.pop("VANISHED", []):
                text = v.decode()
                assert text.startswith("(EARLIER) "), text
                for uid in uids_of(text[len("(EARLIER) "):]):
                    state["flags"].pop(str(uid), None)
            fetches = untagged.pop("FETCH", [])
            # Keyed by UID (the parser takes the UID item as the key).
            for uid, d in parse_fetch_response(fetches).items():
                state["flags"][str(uid)] = clean(d[b"FLAGS"])
            state["highest"] = highest_in(untagged.get("OK", []))
        else:
            raise SystemExit("unknown mode " + mode)
    client.logout()
    with open(path, "w") as f:
        json.dump(state, f)
    print("messages=%d highest=%d" % (len(state["flags"]), state["highest"]))


main()
