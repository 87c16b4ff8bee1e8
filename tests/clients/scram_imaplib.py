"""AUTHENTICATE SCRAM-SHA-256 with Python's imaplib: usage HOST PORT USER PASSWORD.

The standard library has no SCRAM, so the client side (RFC 5802, RFC 7677) is written
here with hashlib and hmac. It checks the server's signature, then that a wrong password
is refused. Prints "ALL OK" at the end; exits non-zero with the failing step otherwise.
"""

import base64
import hashlib
import hmac
import imaplib
import os
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def scram(user, password):
    """An imaplib authobject: called with each decoded challenge, returns the answer."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    name = user.replace("=", "=3D").replace(",", "=2C")
    bare = f"n={name},r={nonce}"
    state = {"step": 0}

    def answer(challenge):
        step = state["step"]
        state["step"] += 1
        if step == 0:
            if challenge != b"":
                sys.exit(f"expected an empty first challenge, got {challenge!r}")
            return ("n,," + bare).encode()
        if step == 1:
            server_first = challenge.decode()
            attrs = dict(a.split("=", 1) for a in server_first.split(","))
            if not attrs["r"].startswith(nonce) or attrs["r"] == nonce:
                sys.exit(f"the server nonce does not extend ours: {server_first}")
            salt = base64.b64decode(attrs["s"])
            iterations = int(attrs["i"])
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = "c=biws,r=" + attrs["r"]
            auth_message = f"{bare},{server_first},{without_proof}".encode()
            signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            state["expect"] = b"v=" + base64.b64encode(
                hmac.new(server_key, auth_message, hashlib.sha256).digest()
            )
            return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
        if step == 2:
            if challenge != state["expect"]:
                sys.exit(f"wrong server signature {challenge!r}, wanted {state['expect']!r}")
            state["verified"] = True
            return b""
        sys.exit(f"unexpected challenge {challenge!r}")

    answer.state = state
    return answer


imap = imaplib.IMAP4(host, port)
if "AUTH=SCRAM-SHA-256" not in imap.capabilities:
    sys.exit(f"AUTH=SCRAM-SHA-256 missing from {imap.capabilities!r}")
auth = scram(user, password)
typ, data = imap.authenticate("SCRAM-SHA-256", auth)
if typ != "OK" or not auth.state.get("verified"):
    sys.exit(f"authenticate: {typ} {data!r} {auth.state!r}")
print(f"authenticate: {typ} {data!r}")
typ, data = imap.select("INBOX")
if typ != "OK":
    sys.exit(f"select: {typ} {data!r}")
imap.logout()

imap = imaplib.IMAP4(host, port)
try:
    imap.authenticate("SCRAM-SHA-256", scram(user, password + "x"))
    sys.exit("a wrong password was accepted")
except imaplib.IMAP4.error as e:
    if "AUTHENTICATIONFAILED" not in str(e):
        sys.exit(f"wrong password: unexpected error {e}")
    print(f"wrong password: {e}")
imap.logout()
print("ALL OK")
