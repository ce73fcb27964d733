"""A real SMTP server on loopback for the e-mail notifier tests (aiosmtpd).

Usage: smtp_sink.py MODE [CERT KEY]
  MODE: plain | plain-auth | plain-auth-plain-only | starttls | starttls-auth | implicit | implicit-auth
Prints "READY <port>" once listening, then one JSON line per received message:
  {"mail_from", "rcpt_tos", "data", "tls", "auth_mechanism", "auth_login", "auth_password", "ehlo"}
and exits when stdin closes.
"""

import json
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MODE = sys.argv[1]
CERT = sys.argv[2] if len(sys.argv) > 2 else None
KEY = sys.argv[3] if len(sys.argv) > 3 else None
AUTH_USER = "alice"
AUTH_PASS = "s3cr3t-pw"


class Handler:
    async def handle_DATA(self, server, session, envelope):
        auth = getattr(session, "auth_data", None)
        login = password = None
        if isinstance(auth, LoginPassword):
            login = auth.login.decode()
            password = auth.password.decode()
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "auth_mechanism": getattr(session, "auth_mechanism", None),
            "auth_login": login,
            "auth_password": password,
            "ehlo": session.host_name,
        }
        print(json.dumps(rec), flush=True)
        return "250 OK"


MECH = {}


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == AUTH_USER.encode() and auth_data.password == AUTH_PASS.encode()
    session.auth_mechanism = mechanism
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    kwargs = {}
    ctx = None
    if CERT:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(CERT, KEY)
    if MODE.startswith("starttls"):
        kwargs.update(tls_context=ctx, require_starttls=True)
    if MODE.startswith("implicit"):
        kwargs.update(ssl_context=ctx, auth_require_tls=False)
    if MODE.endswith("auth") or MODE.endswith("plain-only"):
        kwargs.update(authenticator=authenticator, auth_required=True)
        if MODE.startswith("plain"):
            kwargs.update(auth_require_tls=False)
    if MODE.endswith("plain-only"):
        kwargs.update(auth_exclude_mechanism=["LOGIN"])
    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


main()
