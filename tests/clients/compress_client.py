"""A third-party COMPRESS=DEFLATE client (RFC 4978) with Python's zlib: raw deflate
(wbits -15) both ways, a sync flush after every command, each response read before the
next command is sent (so a server that does not flush its batches hangs it).

usage: compress_client.py HOST PORT USER PASS [CAFILE]   (CAFILE: implicit TLS)
Prints every response line and "ALL OK" at the end."""

import socket
import ssl
import sys
import zlib

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sock = socket.create_connection((host, port), timeout=30)
if len(sys.argv) > 5:
    ctx = ssl.create_default_context(cafile=sys.argv[5])
    sock = ctx.wrap_socket(sock, server_hostname="localhost")

inflater = None
deflater = None
pending = b""


def recv_bytes():
    data = sock.recv(65536)
    if not data:
        raise SystemExit("server closed the connection; so far: %r" % pending)
    if inflater is None:
        return data
    # Bounded output per call, as a careful client does too.
    out = inflater.decompress(data)
    return out


def line():
    global pending
    while b"\r\n" not in pending:
        pending += recv_bytes()
    text, pending = pending.split(b"\r\n", 1)
    # Literals: read their bytes too.
    if text.endswith(b"}") and b"{" in text:
        n = int(text[text.rindex(b"{") + 1 : -1])
        while len(pending) < n:
            pending += recv_bytes()
        text += b"\r\n" + pending[:n]
        pending = pending[n:]
        text += line()
    return text


def send(data):
    if deflater is not None:
        data = deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH)
    sock.sendall(data)


def command(tag, cmd):
    send(b"%s %s\r\n" % (tag, cmd))
    lines = []
    while True:
        text = line()
        print(text.decode("latin-1"))
        lines.append(text)
        if text.startswith(tag + b" "):
            return lines


def expect(lines, start):
    if not lines[-1].startswith(start):
        raise SystemExit("expected %r, got %r" % (start, lines[-1]))


print(line().decode())
expect(command(b"a1", b"LOGIN %s %s" % (user.encode(), password.encode())), b"a1 OK")
caps = command(b"a2", b"CAPABILITY")
if not any(b"COMPRESS=DEFLATE" in l for l in caps):
    raise SystemExit("no COMPRESS=DEFLATE: %r" % caps)
# The tagged OK is the last uncompressed response: start both streams right after it.
expect(command(b"a3", b"COMPRESS DEFLATE"), b"a3 OK")
if pending:
    raise SystemExit("bytes after the COMPRESS OK: %r" % pending)
inflater = zlib.decompressobj(-15)
deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
message = b"Subject: hi\r\n\r\ncompressed hello\r\n" + b"filler line\r\n" * 200
expect(
    command(b"a4", b"APPEND INBOX {%d+}\r\n%s" % (len(message), message)),
    b"a4 OK",
)
expect(command(b"a4s", b"SELECT INBOX"), b"a4s OK")
body = command(b"a5", b"FETCH 1 BODY.PEEK[]")
expect(body, b"a5 OK")
if not any(b"compressed hello" in l for l in body):
    raise SystemExit("message text missing: %r" % body)
expect(command(b"a6", b"COMPRESS DEFLATE"), b"a6 NO [COMPRESSIONACTIVE]")
expect(command(b"a7", b"STARTTLS"), b"a7 BAD")
for n in range(20):
    expect(command(b"n%d" % n, b"NOOP"), b"n%d OK" % n)
expect(command(b"a8", b"LOGOUT"), b"a8 OK")
print("ALL OK")
