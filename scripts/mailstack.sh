#!/usr/bin/env bash
# mailstack.sh — a real mail stack on loopback for Mailer's integration tests and CI.
#
#   Postfix (submission: STARTTLS + SASL AUTH required)  --LMTP-->  Dovecot (IMAP STARTTLS + IMAPS,
#                                                                           POP3 STLS + POP3S)
#
# Everything a running stack writes (config, certificates, mail, queue, logs, pid files) lives
# under one directory DIR; nothing in /etc is changed. See docs/mailstack.md.
#
#   scripts/mailstack.sh install            # Debian packages, no daemons started (idempotent)
#   scripts/mailstack.sh start DIR          # writes DIR/stack.env when every port answers
#   scripts/mailstack.sh start DIR --oauth2 URL   # OAuth2 mode: Dovecot validates bearer tokens at URL
#   scripts/mailstack.sh stop DIR           # idempotent
#   scripts/mailstack.sh status DIR
#   scripts/mailstack.sh stop-smtp DIR      # Postfix only (fault tests: SMTP down, IMAP up)
#   scripts/mailstack.sh start-smtp DIR
set -euo pipefail

readonly DOMAIN="mailer.test"
readonly MAIL_HOST="mail.${DOMAIN}"            # Postfix's myhostname; also in the cert's SAN
readonly ADMIN="admin@${DOMAIN}"  ADMIN_PASSWORD="admin-secret-1"
readonly USER_ADDR="user@${DOMAIN}" USER_PASSWORD="user-secret-1"
# A mailbox of its own for the POP3 tests (their 1,000-message backlogs stay out of admin's INBOX).
readonly POP3_ADDR="pop3@${DOMAIN}" POP3_PASSWORD="pop3-secret-1"
# libnet-ssleay-perl: swaks only Recommends it, and without it swaks cannot do STARTTLS.
readonly PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd openssl swaks libnet-ssleay-perl)

SMTP_PORT="${MAILSTACK_SMTP_PORT:-10587}"
IMAP_PORT="${MAILSTACK_IMAP_PORT:-10143}"
IMAPS_PORT="${MAILSTACK_IMAPS_PORT:-10993}"
POP3_PORT="${MAILSTACK_POP3_PORT:-10110}"
POP3S_PORT="${MAILSTACK_POP3S_PORT:-10995}"
LMTP_PORT="${MAILSTACK_LMTP_PORT:-10024}"
READY_TIMEOUT="${MAILSTACK_READY_TIMEOUT:-20}"  # seconds
STOP_TIMEOUT=15                                 # seconds
OAUTH2_URL=""                                   # start --oauth2 URL

usage() {
  cat <<USAGE
Usage: $0 COMMAND [DIR]

  install          install postfix, dovecot (core, imapd, pop3d, lmtpd), openssl and swaks (with
                   Net::SSLeay) from Debian packages without starting their daemons; fast when
                   everything is installed already
  start DIR        generate config + certificates under DIR and start Dovecot and Postfix on
                   127.0.0.1; writes DIR/stack.env once every port accepts connections
                   (a stack already running in DIR is stopped first)
  start DIR --oauth2 URL
                   the same, and IMAP AUTHENTICATE / SMTP AUTH also take XOAUTH2 and
                   OAUTHBEARER: Dovecot's oauth2 passdb validates each bearer token by RFC 7662
                   introspection (POST token=...) at URL and logs in the "username" it returns
  stop DIR         stop what start started in DIR (idempotent)
  status DIR       report from the pid files; exit 0 only if both are running
  stop-smtp DIR    stop only Postfix (stack.env stays: IMAP is still up)
  start-smtp DIR   start Postfix again

DIR: an absolute or relative path, under 60 characters, made of [A-Za-z0-9._/-], that the
postfix, dovenull and mail users can traverse (so not under /root). E.g. /tmp/mailstack.

Ports (127.0.0.1 only; override by environment at start):
  MAILSTACK_SMTP_PORT=$SMTP_PORT (submission, STARTTLS + AUTH required)
  MAILSTACK_IMAP_PORT=$IMAP_PORT (IMAP, STARTTLS)   MAILSTACK_IMAPS_PORT=$IMAPS_PORT (IMAP, implicit TLS)
  MAILSTACK_POP3_PORT=$POP3_PORT (POP3, STLS)       MAILSTACK_POP3S_PORT=$POP3S_PORT (POP3, implicit TLS)
  MAILSTACK_LMTP_PORT=$LMTP_PORT (Dovecot LMTP, used by Postfix)
Users: $ADMIN / $ADMIN_PASSWORD, $USER_ADDR / $USER_PASSWORD, $POP3_ADDR / $POP3_PASSWORD
USAGE
}

die() { echo "mailstack: $*" >&2; exit 1; }
# Output is best effort: a reader that goes away (`... | head -1`) must not kill the script
# half-way through starting or stopping daemons.
trap '' PIPE
say() { echo "mailstack: $*" 2>/dev/null || true; }

need_root() { [[ $EUID -eq 0 ]] || die "must run as root (Postfix and Dovecot start as root and drop privileges)"; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
cmd_install() {
  need_root
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    # dpkg-query is instant, so a second `install` costs nothing (no apt-get update).
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "already installed: ${PACKAGES[*]}"
    return 0
  fi
  say "installing: ${missing[*]}"

  # Without a preseed, postfix's postinst asks which kind of mail server this is (or writes an
  # /etc/postfix/main.cf for "Internet Site"); "No configuration" writes none: we bring our own.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

  # A policy-rc.d that exits 101 tells invoke-rc.d not to start the distribution's daemons
  # (they would take ports 25/143/993 and /var). Containers often ship one already: leave such a
  # file alone, and remove only the one we put there.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # Removed again on any exit, failed installs included (a global: the trap runs after
    # this function's locals are gone).
    MADE_POLICY=1
    trap '[[ ${MADE_POLICY:-0} -eq 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\n# temporary, from scripts/mailstack.sh install\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi

  export DEBIAN_FRONTEND=noninteractive
  # Lock::Timeout: another apt run on the same machine waits instead of failing at once.
  local apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300
                  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  apt-get update -q -o DPkg::Lock::Timeout=300 </dev/null
  apt-get install "${apt_opts[@]}" "${missing[@]}" </dev/null

  if [[ ${MADE_POLICY:-0} -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; MADE_POLICY=0; fi
  say "installed: ${PACKAGES[*]}"
}

# ---------------------------------------------------------------------------------------------
# DIR handling
# ---------------------------------------------------------------------------------------------
resolve_dir() {
  local raw="${1:-}"
  [[ -n "$raw" ]] || { usage >&2; exit 2; }
  [[ "$raw" == /* ]] || raw="$PWD/$raw"
  # Strip trailing slashes (but keep "/" itself, which the checks below refuse anyway).
  while [[ "$raw" == */ && "$raw" != / ]]; do raw="${raw%/}"; done
  [[ "$raw" =~ ^[A-Za-z0-9._/-]+$ ]] || die "DIR '$raw': only [A-Za-z0-9._/-] allowed (it goes unquoted into config files and stack.env)"
  [[ "$raw" != / && "$raw" != */../* && "$raw" != */.. ]] || die "DIR '$raw': give a plain directory path"
  # Unix socket paths are limited to 108 bytes and Dovecot/Postfix add up to ~45 of their own.
  (( ${#raw} < 60 )) || die "DIR '$raw' is ${#raw} characters long: keep it under 60 (unix socket paths are limited to ~108 bytes)"
  DIR="$raw"
  PF_DIR="$DIR/postfix"          # Postfix config dir (main.cf, master.cf)
  # Queue and data dirs must not be inside the config dir: `postfix check` wants everything
  # below config_directory owned by root, and the queue belongs to the postfix user.
  PF_QUEUE="$DIR/postfix-queue"
  PF_DATA="$DIR/postfix-data"
  PF_PID="$PF_QUEUE/pid/master.pid"
  DC_DIR="$DIR/dovecot"
  DC_CONF="$DC_DIR/dovecot.conf"
  DC_RUN="$DC_DIR/run"           # Dovecot base_dir: sockets, master.pid
  DC_PID="$DC_RUN/master.pid"
  TLS_DIR="$DIR/tls"
  OTHER_DIR="$DIR/other-ca"
  LOG_DIR="$DIR/log"
  ENV_FILE="$DIR/stack.env"
  MARKER="$DIR/.mailstack"       # says "this DIR is ours", so start never takes over e.g. /tmp
}

# The daemons drop privileges to postfix, dovenull, dovecot and mail: each must reach DIR.
check_traversable() {
  local p="$DIR"
  while [[ "$p" != / && -n "$p" ]]; do
    p="$(dirname "$p")"
    if [[ -e "$p" ]]; then
      local mode; mode="$(stat -c '%a' "$p")"
      (( (8#$mode & 1) != 0 )) || die "'$p' is not traversable by other users (mode $mode): the postfix, dovenull and mail users must reach DIR; use e.g. /tmp/mailstack"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# processes: we only ever signal a pid from DIR's own pid files, and only after checking that
# the process is the daemon we started from DIR's configuration.
# ---------------------------------------------------------------------------------------------
read_pid() { [[ -s "$1" ]] && tr -dc '0-9' < "$1" || true; }

postfix_pid() {
  local pid; pid="$(read_pid "$PF_PID")"
  [[ -n "$pid" ]] && ! is_gone "$pid" || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == master ]] || return 1
  # The postfix command hands MAIL_CONFIG to master: proof that it runs from our config dir.
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "MAIL_CONFIG=$PF_DIR" || return 1
  echo "$pid"
}

dovecot_pid() {
  local pid; pid="$(read_pid "$DC_PID")"
  [[ -n "$pid" ]] && ! is_gone "$pid" || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dovecot ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $DC_CONF" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Gone, or a zombie: the daemons detach to pid 1, and when pid 1 is a container's init that
# reaps lazily, an exited master stays a zombie for a second or more.
is_gone() {
  local state
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [[ -z "$state" || "$state" == Z || "$state" == X ]]
}

wait_gone() {  # pid label
  local pid="$1" label="$2" i
  for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
    is_gone "$pid" && return 0
    sleep 0.05
  done
  say "$label (pid $pid) did not exit within ${STOP_TIMEOUT}s; sending SIGKILL to it and its children"
  pkill -KILL -P "$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
}

show_logs() {
  local f
  for f in "$LOG_DIR/dovecot.log" "$LOG_DIR/postfix.log" "$LOG_DIR/postfix-start.log"; do
    [[ -s "$f" ]] || continue
    echo "----- tail of $f -----" >&2
    tail -n 30 "$f" >&2
  done
}

wait_ports() {  # port...
  local deadline=$((SECONDS + READY_TIMEOUT)) port
  for port in "$@"; do
    until port_open "$port"; do
      if (( SECONDS >= deadline )); then
        echo "mailstack: port 127.0.0.1:$port does not accept connections after ${READY_TIMEOUT}s" >&2
        return 1
      fi
      sleep 0.05
    done
  done
}

# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------
# make_ca DIR CN; make_server_cert DIR  — EC P-256 keys: generated in milliseconds, accepted by
# OpenSSL (Postfix, Dovecot, swaks) and by Bun's TLS.
make_ca() {
  local d="$1" cn="$2"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 -subj "/O=Mailer mailstack/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

make_server_cert() {
  local d="$1"
  # Names a client may use: localhost (the servername to pass with an IP host, Bun's tls.connect
  # refuses servername false and an IP), 127.0.0.1, and the mail host of the test domain.
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:$MAIL_HOST,DNS:$DOMAIN" > "$d/server.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$d/server.key" -out "$d/server.csr" -subj "/O=Mailer mailstack/CN=localhost" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$d/server.ext" \
    -out "$d/server.pem" 2>/dev/null
  rm -f "$d/server.csr" "$d/server.ext"
  chmod 600 "$d/server.key" "$d/ca.key"
}

# Kept across restarts: a running test (or Mailer server) may hold the CA already. The
# certificates are made again only when missing or expiring within a day.
ensure_certs() {
  local d
  for d in "$TLS_DIR" "$OTHER_DIR"; do
    mkdir -p "$d"; chmod 755 "$d"
    if [[ -s "$d/ca.pem" && -s "$d/server.pem" && -s "$d/server.key" ]] \
       && openssl x509 -checkend 86400 -noout -in "$d/server.pem" >/dev/null 2>&1; then
      continue
    fi
    if [[ "$d" == "$TLS_DIR" ]]; then
      make_ca "$d" "Mailer mailstack test CA"
    else
      # Same names as the real server certificate, different CA: a client that trusts only
      # MAILSTACK_CA_FILE must refuse it (tests serve it from a listener of their own).
      make_ca "$d" "Mailer mailstack OTHER CA (must not be trusted)"
    fi
    make_server_cert "$d"
  done
}

# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
write_dovecot_conf() {
  mkdir -p "$DC_DIR" "$DC_DIR/state" "$DC_DIR/mail"
  # Mail is stored as user mail (uid 8); LMTP and IMAP processes switch to it.
  chown mail:mail "$DC_DIR/mail"; chmod 750 "$DC_DIR/mail"

  # passwd-file: user:{PLAIN}password:uid:gid:gecos:home:shell. Read by the auth process,
  # which runs as user dovecot.
  {
    echo "$ADMIN:{PLAIN}$ADMIN_PASSWORD:8:8::$DC_DIR/mail/$DOMAIN/admin::"
    echo "$USER_ADDR:{PLAIN}$USER_PASSWORD:8:8::$DC_DIR/mail/$DOMAIN/user::"
    echo "$POP3_ADDR:{PLAIN}$POP3_PASSWORD:8:8::$DC_DIR/mail/$DOMAIN/pop3::"
  } > "$DC_DIR/passwd"
  chown root:dovecot "$DC_DIR/passwd"; chmod 640 "$DC_DIR/passwd"

  local dh=""
  [[ -s /usr/share/dovecot/dh.pem ]] && dh="ssl_dh = </usr/share/dovecot/dh.pem"

  # No TLS 1.3 session tickets from Dovecot either (it has no setting of its own): OpenSSL reads
  # this file through OPENSSL_CONF, which import_environment below hands to Dovecot's processes.
  cat > "$DC_DIR/openssl.cnf" <<CONF
openssl_conf = mailstack_init
[mailstack_init]
ssl_conf = mailstack_ssl
[mailstack_ssl]
system_default = mailstack_tls
[mailstack_tls]
NumTickets = 0
CONF

  cat > "$DC_CONF" <<CONF
# Generated by scripts/mailstack.sh — rewritten on every start.
base_dir = $DC_RUN
state_dir = $DC_DIR/state
log_path = $LOG_DIR/dovecot.log
instance_name = mailstack-$(basename "$DIR")

protocols = imap pop3 lmtp
listen = 127.0.0.1

# TLS: STARTTLS on $IMAP_PORT, implicit TLS on $IMAPS_PORT. Note: Dovecot 2.3 counts a connection
# whose remote IP equals its local IP (127.0.0.1 -> 127.0.0.1) as "secured", so even with
# ssl = required it accepts LOGIN before STARTTLS here; it would refuse it from any other host.
ssl = required
ssl_cert = <$TLS_DIR/server.pem
ssl_key = <$TLS_DIR/server.key
ssl_min_protocol = TLSv1.2
$dh
import_environment = \$import_environment OPENSSL_CONF=$DC_DIR/openssl.cnf

auth_mechanisms = plain login${OAUTH2_URL:+ xoauth2 oauthbearer}
# Wrong-password tests must not slow every later login (Dovecot waits 2 s, and anvil's auth
# penalty adds 2/4/8/15 s to every login from the same IP, good ones too).
auth_failure_delay = 0
# auth_failure_delay = 0 alone still leaves ~0.5 s per failure: failed requests wait in a queue
# that the auth process flushes on a fixed 500 ms timer, unless the request carries the
# "nodelay" extra field. A failing passdb's own fields are rolled back, so "nodelay" comes from
# this first passdb, which authenticates nothing (noauthenticate) and only adds the field.
passdb {
  driver = static
  args = noauthenticate=yes nodelay=yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $DC_DIR/passwd
  # A bearer token must never be checked as a password (the oauth2 mechanisms pass it on as one).
  ${OAUTH2_URL:+mechanisms = plain login}
}
$(oauth2_passdb)
userdb {
  driver = passwd-file
  args = username_format=%Lu $DC_DIR/passwd
}

first_valid_uid = 8
mail_location = maildir:~/Maildir
# Ticket addresses like user+1234@$DOMAIN land in user's INBOX.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
# Tests open many connections from one IP (default 10 per user and IP).
mail_max_userip_connections = 100

namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}

# POP3: STLS on $POP3_PORT, implicit TLS on $POP3S_PORT (the same "secured" note as for IMAP).
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
    ssl = yes
  }
}

service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
# Postfix hands mail over in clear on loopback: LMTP is not a login service.
protocol lmtp {
  ssl = no
}

service auth {
  # Postfix's smtpd (user postfix) authenticates SMTP AUTH through this socket.
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}

service anvil {
  # mode 0 = nobody can use the auth-penalty socket = no login delays after failures.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF
}

# --oauth2: bearer tokens go to the issuer's introspection endpoint; only an active token whose
# "username" is the login name passes. No cache: a revoked token is refused at once.
oauth2_passdb() {
  [[ -n "$OAUTH2_URL" ]] || return 0
  cat > "$DC_DIR/oauth2.conf.ext" <<CONF
introspection_mode = post
introspection_url = $OAUTH2_URL
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
CONF
  cat <<CONF
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DC_DIR/oauth2.conf.ext
}
CONF
}

write_postfix_conf() {
  mkdir -p "$PF_DIR" "$PF_QUEUE" "$PF_DATA"
  chown root:root "$PF_QUEUE"; chmod 755 "$PF_QUEUE"
  chown postfix:postfix "$PF_DATA"; chmod 700 "$PF_DATA"

  # Known recipients: anyone else on the domain is refused at RCPT with 550 5.1.1.
  printf '%s OK\n' "$ADMIN" "$USER_ADDR" "$POP3_ADDR" > "$PF_DIR/vmailbox"

  # OpenSSL configuration for Postfix: no TLS 1.3 session tickets. Each unpooled SMTP send
  # otherwise pays ~40 ms for tickets the client never uses.
  cat > "$PF_DIR/openssl.cnf" <<CONF
postfix = postfix_settings
[postfix_settings]
ssl_conf = postfix_ssl_settings
[postfix_ssl_settings]
system_default = baseline_postfix_settings
[baseline_postfix_settings]
NumTickets = 0
CONF

  cat > "$PF_DIR/main.cf" <<CONF
# Generated by scripts/mailstack.sh — rewritten on every start.
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
# postfix-files and dynamicmaps.cf stay where the Debian package put them.
meta_directory = /etc/postfix
maillog_file = $LOG_DIR/postfix.log
maillog_file_prefixes = $LOG_DIR

myhostname = $MAIL_HOST
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_banner = \$myhostname ESMTP mailstack
biff = no
# No local delivery, no aliases: the only destination is the virtual domain below.
alias_maps =
alias_database =
local_recipient_maps =

# $DOMAIN: known users only, delivered over LMTP to Dovecot.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$PF_DIR/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
recipient_delimiter = +
# Nothing ever leaves the machine: were a message for another domain to get in, it bounces.
default_transport = error:mailstack delivers only to $DOMAIN
relay_transport = error:mailstack delivers only to $DOMAIN

# Submission: STARTTLS first (530 otherwise), AUTH only after it, via Dovecot.
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_chain_files = $TLS_DIR/server.key, $TLS_DIR/server.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
smtpd_tls_session_cache_timeout = 0
tls_config_file = $PF_DIR/openssl.cnf
tls_config_name = postfix
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC_RUN/auth-postfix
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
# Unauthenticated: every RCPT refused. Authenticated: $DOMAIN only; another domain gets
# "554 5.7.1 Relay access denied" (reject_unauth_destination), an unknown user 550 5.1.1.
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = reject_unauth_destination
CONF

  # chroot = n everywhere: a chroot would need copies of /etc files inside the queue dir.
  cat > "$PF_DIR/master.cf" <<CONF
# Generated by scripts/mailstack.sh — rewritten on every start.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CONF

  # Postfix will not read a table file modified within the last ~2 seconds (it polls until the
  # mtime is old enough, to avoid reading a half-written file): freshly written, they'd cost
  # ~2.3 s per start. They are complete now, so date them back.
  touch -d "@$(( $(date +%s) - 10 ))" "$PF_DIR"/main.cf "$PF_DIR"/master.cf "$PF_DIR"/vmailbox "$PF_DIR"/openssl.cnf
}

write_env() {
  local tmp="$ENV_FILE.tmp"
  cat > "$tmp" <<ENV
MAILSTACK_DIR=$DIR
MAILSTACK_DOMAIN=$DOMAIN
MAILSTACK_SMTP_HOST=127.0.0.1
MAILSTACK_SMTP_PORT=$SMTP_PORT
MAILSTACK_IMAP_HOST=127.0.0.1
MAILSTACK_IMAP_PORT=$IMAP_PORT
MAILSTACK_IMAPS_PORT=$IMAPS_PORT
MAILSTACK_POP3_PORT=$POP3_PORT
MAILSTACK_POP3S_PORT=$POP3S_PORT
MAILSTACK_LMTP_PORT=$LMTP_PORT
MAILSTACK_TLS_SERVERNAME=localhost
MAILSTACK_CA_FILE=$TLS_DIR/ca.pem
MAILSTACK_OTHER_CA_DIR=$OTHER_DIR
MAILSTACK_ADMIN=$ADMIN
MAILSTACK_ADMIN_PASSWORD=$ADMIN_PASSWORD
MAILSTACK_USER=$USER_ADDR
MAILSTACK_USER_PASSWORD=$USER_PASSWORD
MAILSTACK_OAUTH2_URL=$OAUTH2_URL
MAILSTACK_POP3_USER=$POP3_ADDR
MAILSTACK_POP3_USER_PASSWORD=$POP3_PASSWORD
ENV
  chmod 644 "$tmp"
  mv "$tmp" "$ENV_FILE"   # atomic: a reader never sees half a file
}

# ---------------------------------------------------------------------------------------------
# start / stop
# ---------------------------------------------------------------------------------------------
# A start that fails half-way leaves nothing running: logs to stderr, stop, exit 1.
fail_start() {
  show_logs
  cmd_stop_inner >/dev/null
  die "$*"
}

start_dovecot() {
  # Dovecot's master keeps the caller's stdio open: anything reading our output through a pipe
  # (CI, Bun.spawn) would wait forever. Give it /dev/null and the log file instead.
  dovecot -c "$DC_CONF" </dev/null >>"$LOG_DIR/dovecot.log" 2>&1 || fail_start "dovecot did not start"
}

start_postfix() {
  # `postfix start` also runs `postfix check`, which creates the queue directories with the
  # right owners (from /etc/postfix/postfix-files) on first use.
  postfix -c "$PF_DIR" start </dev/null >>"$LOG_DIR/postfix-start.log" 2>&1 || fail_start "postfix did not start"
}

stop_postfix() {
  local pid
  if pid="$(postfix_pid)"; then
    postfix -c "$PF_DIR" stop </dev/null >>"$LOG_DIR/postfix-start.log" 2>&1 || true
    wait_gone "$pid" postfix
    say "postfix stopped"
  fi
}

# Something else on one of our ports would answer our readiness probe: refuse. Children of a
# stack stopped a moment ago may still hold a listener for a short while: GRACE_TICKS x 50 ms.
GRACE_TICKS=1
refuse_busy_ports() {  # port...
  local port i
  for port in "$@"; do
    for ((i = 0; i < GRACE_TICKS; i++)); do
      port_open "$port" || continue 2
      sleep 0.05
    done
    die "127.0.0.1:$port is already taken by another program; choose other ports with MAILSTACK_*_PORT"
  done
}

# start-smtp must listen where the stack was started, whatever the environment says now:
# master.cf has it.
load_smtp_port() {
  local v
  v="$(sed -n 's/^127\.0\.0\.1:\([0-9][0-9]*\)[[:space:]].*/\1/p' "$PF_DIR/master.cf" 2>/dev/null | head -n 1)"
  [[ -n "$v" ]] && SMTP_PORT="$v"
  return 0
}

cmd_start() {
  need_root
  resolve_dir "$1"
  OAUTH2_URL=""
  if [[ $# -gt 1 ]]; then
    [[ "$2" == --oauth2 && $# -eq 3 ]] || { usage >&2; exit 2; }
    # It goes unquoted into dovecot's config: a plain http(s) URL only.
    [[ "$3" =~ ^https?://[A-Za-z0-9._:/@-]+$ ]] || die "--oauth2 '$3': give the introspection URL, e.g. http://127.0.0.1:8080/introspect"
    OAUTH2_URL="$3"
  fi
  command -v postfix >/dev/null && command -v dovecot >/dev/null \
    || die "postfix/dovecot not installed: run '$0 install' first"
  [[ -x /usr/lib/dovecot/pop3 ]] || die "dovecot-pop3d not installed (POP3 is part of the stack now): run '$0 install' first"
  if [[ -e "$DIR" && ! -e "$MARKER" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    die "'$DIR' exists, is not empty and was not made by mailstack.sh: refusing to write into it"
  fi
  local t0; t0="$(date +%s%N)"
  # stack.env means "ready": remove it before anything else, so an interrupted start or a failed
  # one never leaves tests a stale file. It is written again at the very end.
  [[ -e "$MARKER" ]] && rm -f "$ENV_FILE"

  check_traversable
  if postfix_pid >/dev/null || dovecot_pid >/dev/null; then
    say "a stack is already running in $DIR: stopping it first"
    cmd_stop_inner
    GRACE_TICKS=100
  fi
  local p
  for p in SMTP_PORT IMAP_PORT IMAPS_PORT POP3_PORT POP3S_PORT LMTP_PORT; do
    [[ "${!p}" =~ ^[0-9]+$ ]] && (( ${!p} > 0 && ${!p} < 65536 )) || die "MAILSTACK_$p='${!p}' is not a port number"
  done
  refuse_busy_ports "$SMTP_PORT" "$IMAP_PORT" "$IMAPS_PORT" "$POP3_PORT" "$POP3S_PORT" "$LMTP_PORT"

  mkdir -p "$DIR"; chmod 755 "$DIR"
  touch "$MARKER"
  mkdir -p "$LOG_DIR"; chmod 755 "$LOG_DIR"

  ensure_certs
  write_dovecot_conf
  write_postfix_conf

  # Dovecot first: Postfix needs its auth socket (SASL) and LMTP.
  start_dovecot
  wait_ports "$LMTP_PORT" "$IMAP_PORT" "$IMAPS_PORT" "$POP3_PORT" "$POP3S_PORT" || fail_start "dovecot is not ready"
  start_postfix
  wait_ports "$SMTP_PORT" || fail_start "postfix is not ready"
  write_env

  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  {
    cat <<SUMMARY
mailstack: ready in ${ms} ms — $DIR
  SMTP submission  127.0.0.1:$SMTP_PORT  STARTTLS + AUTH required (Postfix, pid $(postfix_pid))
  IMAP             127.0.0.1:$IMAP_PORT  STARTTLS (Dovecot, pid $(dovecot_pid))
  IMAPS            127.0.0.1:$IMAPS_PORT  implicit TLS
  POP3             127.0.0.1:$POP3_PORT  STLS
  POP3S            127.0.0.1:$POP3S_PORT  implicit TLS
  LMTP             127.0.0.1:$LMTP_PORT  Postfix -> Dovecot
  users            $ADMIN / $ADMIN_PASSWORD, $USER_ADDR / $USER_PASSWORD, $POP3_ADDR / $POP3_PASSWORD
  CA               $TLS_DIR/ca.pem (cert names: localhost, 127.0.0.1, $MAIL_HOST)
  other CA         $OTHER_DIR/{ca.pem,server.pem,server.key}
  env file         $ENV_FILE
  logs             $LOG_DIR/
SUMMARY
  } 2>/dev/null || true
}

cmd_stop_inner() {
  # Both are signalled first and then awaited together: each master takes 1-3 s to exit on its
  # own. Should Postfix try to hand over mail meanwhile, LMTP fails and the mail stays queued.
  local ppid="" dpid=""
  if ppid="$(postfix_pid)"; then
    postfix -c "$PF_DIR" stop </dev/null >>"$LOG_DIR/postfix-start.log" 2>&1 || true
  fi
  if dpid="$(dovecot_pid)"; then
    kill -TERM "$dpid" 2>/dev/null || true
  fi
  if [[ -n "$ppid" ]]; then wait_gone "$ppid" postfix; say "postfix stopped"; fi
  if [[ -n "$dpid" ]]; then wait_gone "$dpid" dovecot; say "dovecot stopped"; fi
}

cmd_stop() {
  need_root
  resolve_dir "$1"
  if [[ ! -e "$DIR" ]]; then say "nothing in $DIR"; return 0; fi
  [[ -e "$MARKER" ]] && rm -f "$ENV_FILE"   # first: tests must not find a stack that is going
  cmd_stop_inner
  say "stopped ($DIR)"
}

cmd_status() {
  resolve_dir "$1"
  local rc=0 pid
  if pid="$(dovecot_pid)"; then say "dovecot running (pid $pid)"; else say "dovecot not running"; rc=1; fi
  if pid="$(postfix_pid)"; then say "postfix running (pid $pid)"; else say "postfix not running"; rc=1; fi
  return $rc
}

cmd_stop_smtp() {
  need_root
  resolve_dir "$1"
  if ! postfix_pid >/dev/null; then say "postfix not running"; return 0; fi
  stop_postfix
}

cmd_start_smtp() {
  need_root
  resolve_dir "$1"
  [[ -s "$PF_DIR/master.cf" ]] || die "no stack in $DIR: run '$0 start $DIR' first"
  load_smtp_port
  if postfix_pid >/dev/null; then say "postfix already running"; return 0; fi
  refuse_busy_ports "$SMTP_PORT"
  postfix -c "$PF_DIR" start </dev/null >>"$LOG_DIR/postfix-start.log" 2>&1 \
    || { show_logs; die "postfix did not start"; }
  wait_ports "$SMTP_PORT" || { show_logs; die "postfix is not ready"; }
  say "postfix running (pid $(postfix_pid)) on 127.0.0.1:$SMTP_PORT"
}

case "${1:-}" in
  install)    cmd_install ;;
  start)      shift; cmd_start "${1:-}" "${@:2}" ;;
  stop)       cmd_stop "${2:-}" ;;
  status)     cmd_status "${2:-}" ;;
  stop-smtp)  cmd_stop_smtp "${2:-}" ;;
  start-smtp) cmd_start_smtp "${2:-}" ;;
  -h|--help|help) usage ;;
  "")         usage; exit 2 ;;
  *)          usage >&2; exit 2 ;;
esac
