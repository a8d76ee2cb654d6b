# An ordinary Python imaplib client, run by tests/sandbox/imaplib.test.ts against the sandbox's
# IMAP server (and Dovecot, for comparison): parenthesised search keys, an empty search result,
# and APPEND of a message whose boundary= sits on an unindented continuation line.
# Usage: python3 imaplib-client.py HOST PORT USER PASSWORD [--starttls CAFILE]; prints JSON.
import imaplib, json, ssl, sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
m = imaplib.IMAP4(host, port)
if "--starttls" in sys.argv:
    ctx = ssl.create_default_context(cafile=sys.argv[sys.argv.index("--starttls") + 1])
    ctx.check_hostname = False
    m.starttls(ssl_context=ctx)
m.login(user, password)
m.select("INBOX")

def search(*criteria):
    try:
        typ, data = m.uid("SEARCH", *criteria)
        return [typ, [d.decode() if isinstance(d, bytes) else d for d in data]]
    except imaplib.IMAP4.error as e:
        return ["error", str(e)]

MARK = sys.argv[5] if len(sys.argv) > 5 and not sys.argv[5].startswith("--") else "imaplib-mark"
out["unseen"] = search("(UNSEEN)")
out["since"] = search("(SINCE 1-Jan-2020)")
out["nested"] = search("(OR (SUBJECT %s) (UNSEEN))" % MARK)
out["empty"] = search("(SUBJECT no-such-subject-anywhere)")
msg = ("From: a@example.com\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
       "boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n" % MARK).encode()
try:
    typ, data = m.append("INBOX", None, None, msg)
    out["append"] = [typ, [d.decode() if isinstance(d, bytes) else str(d) for d in data]]
except imaplib.IMAP4.error as e:
    out["append"] = ["error", str(e)]
out["appended"] = search("SUBJECT", MARK)
# leave the mailbox as it was (the Dovecot run shares it with other tests)
for uid in (out["appended"][1][0] or "").split():
    m.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
m.expunge()
m.logout()
print(json.dumps(out))
