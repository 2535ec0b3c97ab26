#!/usr/bin/env python3
"""The local inbox of `scripts/up.sh`: where a developer reads the emails and SMS the platform
sends on this machine (verification codes, reset links), instead of real providers.

- Email: an SMTP server (aiosmtpd) writing every message to the Maildir `<dir>/mail`.
- SMS: an HTTP endpoint speaking Africa's Talking's format (`POST /version1/messaging`, form body,
  `SMSMessageData` answer) that appends each message to `<dir>/sms.log`.

Loopback only; nothing leaves the machine. Stop it with Ctrl-C (up.sh stops it with the app).

    python3 scripts/local-inbox.py --dir /var/lib/nexgate/inbox --smtp-port 2525 --sms-port 8025
"""

import argparse
import datetime
import http.server
import json
import os
import threading
import urllib.parse
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

# Largest SMS request body read (a real message is a few hundred bytes).
SMS_BODY_BYTES_MAX = 64 * 1024


def sms_handler(log_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/version1/messaging":
                self.send_error(404)
                return
            length = min(int(self.headers.get("content-length", 0)), SMS_BODY_BYTES_MAX)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            to = form.get("to", [""])[0]
            message = form.get("message", [""])[0]
            line = f"{datetime.datetime.now(datetime.timezone.utc).isoformat()} to {to}: {message}\n"
            with open(log_path, "a") as f:
                f.write(line)
            body = json.dumps({"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: 0", "Recipients": [
                {"statusCode": 101, "number": to, "status": "Success", "cost": "0",
                 "messageId": f"ATXid_{uuid.uuid4().hex}"}]}}).encode()
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--sms-port", type=int, default=8025)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Mailbox(os.path.join(args.dir, "mail")), hostname="127.0.0.1", port=args.smtp_port)
    controller.start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.sms_port), sms_handler(os.path.join(args.dir, "sms.log")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"local inbox: email to {args.dir}/mail (SMTP 127.0.0.1:{args.smtp_port}), "
          f"SMS to {args.dir}/sms.log (127.0.0.1:{args.sms_port})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        server.shutdown()


if __name__ == "__main__":
    main()
