#!/usr/bin/python3
"""Fake alert receivers for alert_sender_test.cpp.

  alert_sinks.py smtp OUTDIR            SMTP server (aiosmtpd) on 127.0.0.1, port 0
  alert_sinks.py webhook OUTDIR [STATUS] HTTP server answering every POST with STATUS (204)

Each received message is written atomically to OUTDIR (mail-N.eml + mail-N.env, or
webhook-N.json + webhook-N.headers); the listening port goes to OUTDIR/port once accepting.
Runs until killed.
"""
import asyncio
import http.server
import itertools
import json
import os
import sys


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def announce(outdir, port):
    write_atomic(os.path.join(outdir, "port"), str(port).encode())


def run_smtp(outdir):
    from aiosmtpd.smtp import SMTP

    counter = itertools.count()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            n = next(counter)
            write_atomic(os.path.join(outdir, f"mail-{n}.env"),
                         json.dumps({"mail_from": envelope.mail_from,
                                     "rcpt_tos": envelope.rcpt_tos}).encode())
            write_atomic(os.path.join(outdir, f"mail-{n}.eml"), envelope.original_content)
            return "250 Message accepted for delivery"

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0)
        announce(outdir, server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def run_webhook(outdir, status):
    counter = itertools.count()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            n = next(counter)
            write_atomic(os.path.join(outdir, f"webhook-{n}.headers"),
                         f"{self.command} {self.path}\n{self.headers}".encode())
            write_atomic(os.path.join(outdir, f"webhook-{n}.json"), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    announce(outdir, server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    mode, outdir = sys.argv[1], sys.argv[2]
    if mode == "smtp":
        run_smtp(outdir)
    elif mode == "webhook":
        run_webhook(outdir, int(sys.argv[3]) if len(sys.argv) > 3 else 204)
    else:
        sys.exit(f"unknown mode {mode}")
