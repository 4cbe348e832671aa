/**
 * `entrechat COMMAND --help`: what one command does, its options and its exit codes. The overview
 * (`entrechat --help`) lists every command; these say more about one.
 */

const EXITS_STORE = 'Exit codes: 0 done, 2 usage (bad arguments, a bad code or name), 3 store (wrong passphrase, damaged, permissions).';

export const COMMAND_HELP: Readonly<Record<string, string>> = {
  init: `entrechat init [--no-passphrase | --passphrase-file FILE] [--amnesic]

Makes your identity (an X25519 key pair) and stores it in $ENTRECHAT_HOME (default ~/.entrechat),
encrypted under a passphrase asked twice without echo. Refuses to overwrite an existing identity.
Prints your contact code.

  --passphrase-file FILE   the passphrase is the first line of FILE (mode 600 and yours, or a pipe)
  --no-passphrase          store the identity unprotected: for tests and demos only
  --amnesic                every session starts a fresh tor and deletes its folder: no entry guard
                           is kept between sessions (see entrechat settings; README § Guards)
  --json                   print {"code": …}

A weak passphrase gets a warning with an estimate of its strength (it is not refused).

${EXITS_STORE}`,
  whoami: `entrechat whoami [--json | --qr]

Prints your contact code; on a terminal (or with --qr) also as a QR code to scan. Give it to your
contacts out of band: in person, or over a channel you trust.

${EXITS_STORE}`,
  contacts: `entrechat contacts add NAME CODE      add the contact whose code they gave you
entrechat contacts list [--json]      your contacts, verified or not
entrechat contacts rename OLD NEW
entrechat contacts remove NAME
entrechat contacts verify NAME [--yes]

verify shows your safety number with NAME (60 digits in 12 groups). Compare it with NAME aloud or in
person; when every group matches, confirm, and NAME is marked verified. --yes confirms without
asking (you compared it already). Answering anything but y leaves NAME unverified (exit 2).

${EXITS_STORE}`,
  passphrase: `entrechat passphrase [--new-passphrase-file FILE | --no-passphrase --yes]

Changes the store's passphrase: the old one is asked (or --passphrase-file), the new one asked twice
(or --new-passphrase-file). The store is rewritten atomically. --no-passphrase --yes removes the
passphrase: for tests and demos only. A weak new passphrase gets a warning with an estimate.

${EXITS_STORE}`,
  talk: `entrechat talk NAME [--window SECONDS] [--idle-limit SECONDS] [--session-limit SECONDS]
                      [--tor-config FILE | --tor-control ADDR [--tor-listen IPV4:PORT]] [--amnesic] [--json]

The chat with NAME. Both of you run talk within the window (default 180 s, 10 to 1800): each starts
a tor of its own, publishes an onion only the two of you can compute, and dials the other's. Nothing
is queued: you can send only while the other is connected. Enter sends; /quit, Ctrl-C (or Ctrl-D on
an empty line) ends the session for both; /help lists the keys. At the end the keys are wiped, tor is
stopped and its temp folder deleted, and the screen is cleared. Tor's guards and directory cache stay
in $ENTRECHAT_HOME/tor for the next session (nothing of the session goes there), unless --amnesic or
the identity's amnesic setting. Without a terminal the chat is plain
lines; with --json, one JSON event per line and each input line is a message (README § For scripts).

  --window SECONDS         how long to wait for NAME once Tor is ready
  --idle-limit SECONDS     end the session after this long without a message (default 900, 60 to
                           7200); the stricter of your two limits applies
  --session-limit SECONDS  end the session after this long in any case (default 7200, 60 to 86400);
                           the stricter of your two limits applies
  --tor-config FILE        extra torrc lines for the tor Entrechat starts
  --amnesic                this session's tor starts fresh and its folder is deleted at the end
                           (a new entry guard, a cold start); no effect on a tor of --tor-control
  --tor-control ADDR       use a running tor instead (host:port on loopback, or a unix socket)
  --tor-control-password-file FILE
                           the control port's password, first line of FILE (chmod 600)
  --tor-control-cookie-file FILE
                           that tor's cookie file: the only file sent to a control port offering
                           plain COOKIE alone (SAFECOOKIE needs none)
  --tor-listen IPV4:PORT   with --tor-control, where the borrowed tor reaches our listeners: the
                           first free port of PORT to PORT+3 on that address (Whonix-Workstation:
                           0.0.0.0:17740, those ports opened in its firewall; README)
  --loopback-listen PORT --loopback-peer PORT
                           plain TCP on 127.0.0.1, no Tor: tests and development only

Exit codes: 0 a session opened and ended normally, 2 usage, 3 store, 4 no session (NAME did not
come), 5 the session failed, 6 Tor (TOR_STATE_LOCKED: another talk of this identity is running).`,
  settings: `entrechat settings [amnesic on|off] [--json]

Shows the identity's settings, or changes one (kept in the store, so the passphrase is asked).

  amnesic on    every session starts a fresh tor in a temp folder, deleted at the end: no tor state
                is kept, but each session picks a new entry guard and starts cold. Also removes
                $ENTRECHAT_HOME/tor now (refused while a session uses it).
  amnesic off   (the default) tor keeps its guards and directory cache in $ENTRECHAT_HOME/tor: the
                same entry guard every session, and a faster start.

${EXITS_STORE} 6 the tor folder is in use (TOR_STATE_LOCKED).`,
  ui: `entrechat ui [--open] [--tor-config FILE | --tor-control ADDR [--tor-listen IPV4:PORT] …]
                    [--window SECONDS] [--idle-limit SECONDS] [--session-limit SECONDS] [--amnesic]

Entrechat as a page in your browser (on a phone, too): this process serves it on 127.0.0.1 only, on a
port the system picks, and prints one line on standard output:

  http://127.0.0.1:PORT/open?k=SECRET

Open it in your browser (--open does it for you with xdg-open or termux-open-url). SECRET is a random
256-bit value that works once: the page swaps it for a cookie of this browser session (HttpOnly,
SameSite=Strict, another random value) and the address bar shows just http://127.0.0.1:PORT/. Opened
again, or in another browser, the address is refused: stop and start entrechat ui for a new one. The
URL is printed nowhere else; do not paste it anywhere. One page at a time: a second tab is told so.

In the page you can do everything the command line does: create or unlock your identity (the
passphrase is asked in the page and kept in this process's memory only until you lock or exit), show
your contact code as text and as a QR code, add contacts (paste or scan their code), compare safety
numbers and mark contacts verified, rename and remove them, run the doctor's checks, and talk: the
same session as entrechat talk, over Tor (a tor started for the session, or --tor-control), with the
same window and limits. Nothing starts, no tor and no connection, until you press Talk.

It stops: on Exit in the page (which also locks your identity), on Ctrl-C, and by itself when no page
has been connected for 10 minutes. A page that goes away during a session (tab closed, phone locked
long enough for the browser to drop it) ends the session as /quit after 30 seconds; a reload within
them reconnects.

What a browser may keep: the server asks it to store nothing (no cache, no storage, no service
worker, a cookie that dies with the browser session and with this process), and no message, code or
name ever goes in an address or a title. A browser may still learn what you type (keyboard
dictionaries) or keep a screenshot for its app switcher: a private tab reduces that.

  --open                   open the address in the browser (never through a shell)
  --window, --idle-limit, --session-limit, --amnesic, --tor-config, --tor-control, --tor-listen,
  --tor-control-password-file, --tor-control-cookie-file, --loopback-listen, --loopback-peer
                           as for entrechat talk: how each session the page starts runs

The page's files (index.html, app.js, app.css) are read once at start from dist/web (npm run build
makes them), or from the folder named by $ENTRECHAT_UI_ASSETS.

Exit codes: 0 stopped (Exit, Ctrl-C, or no page for 10 minutes), 2 usage (the page not built: run
npm run build), 130 a second Ctrl-C.`,
  doctor: `entrechat doctor [--json]
       entrechat doctor --tor-control ADDR [--tor-control-password-file FILE]
                        [--tor-control-cookie-file FILE] [--json]

Checks that tor is installed (and its version), that tor accepts the options of a session, that core
files are off, where tor's temp folder goes (in memory or on a disk), that the folder where tor keeps
its guards ($ENTRECHAT_HOME/tor) is private (or absent), and that the store is private and readable
(without asking the passphrase). Each problem comes with its fix; "!" marks a weakness
that does not stop Entrechat (core files possible, a disk-backed temp folder). Opens no socket.

With --tor-control, checks that running tor instead (Tails, Whonix, a system tor), as talk would use
it: the control port answers, how it authenticates, the tor version, a SOCKS port that answers,
bootstrap, and whether a control-port filter (onion-grater) lets through the commands a session
needs. Nothing reaches the Tor network: ADD_ONION is not tried (it would publish an onion), and says so.

Exit codes: 0 all good, 3 a store problem, 6 a Tor problem.`,
  demo: `entrechat demo [--script]

Starts a private Tor network on 127.0.0.1 in a temp folder, makes two throw-away identities (you and a
bot), and opens the chat with the bot, which answers through its own tor. --script instead runs a
scripted session and prints the transcript. Everything is removed at the end.

Exit codes: 0 done, 4 or 5 the session did not open or failed, 6 Tor, 130 interrupted before the
chat opened (or, with --script, at any point).`,
};
