#!/usr/bin/env bash
# knockd-ts demo: sets everything up, then shows a real knock opening a real firewall rule.
#
# Two throwaway network namespaces joined by a veth pair: "server" runs knockd-ts guarding a TCP
# service on port 2222 (iptables REJECT unless knocked), "client" knocks. Nothing touches the
# host's firewall; the namespaces (and every rule in them) are deleted on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ $(id -u) -ne 0 ]]; then echo "demo: run as root (network namespaces and iptables need it)" >&2; exit 1; fi
if [[ ${DEMO_SKIP_SETUP:-0} != 1 ]]; then bash scripts/setup.sh; fi

TAG=kdemo$$
SRV=${TAG}s CLI=${TAG}c
VS=${TAG:0:10}a VC=${TAG:0:10}b
S4=10.203.0.1 C4=10.203.0.2 S6=fd00:203::1 C6=fd00:203::2
WORK=$(mktemp -d /tmp/knockd-demo.XXXXXX)
PIDS=()

cleanup() {
  set +e
  # SIGTERM (the daemon closes its open doors), wait for each to exit, then SIGKILL leftovers;
  # the namespaces go only after that, so the daemon never sees its interface vanish.
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$SRV" 2>/dev/null
  ip netns del "$CLI" 2>/dev/null
  [[ ${DEMO_KEEP:-0} == 1 ]] && echo "demo: kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
insrv() { ip netns exec "$SRV" "$@"; }
incli() { ip netns exec "$CLI" "$@"; }

say "network: namespaces $SRV (server) and $CLI (client), veth $VS <-> $VC"
ip netns add "$SRV"; ip netns add "$CLI"
ip link add "$VS" type veth peer name "$VC"
ip link set "$VS" netns "$SRV"; ip link set "$VC" netns "$CLI"
for ns in "$SRV" "$CLI"; do ip -n "$ns" link set lo up; done
ip -n "$SRV" addr add $S4/24 dev "$VS"; ip -n "$CLI" addr add $C4/24 dev "$VC"
ip -n "$SRV" addr add $S6/64 dev "$VS" nodad; ip -n "$CLI" addr add $C6/64 dev "$VC" nodad
ip -n "$SRV" link set "$VS" up; ip -n "$CLI" link set "$VC" up
# safety: traffic must stay on our veth, and neither namespace may have a default route
ip -n "$CLI" route get $S4 | grep -q "dev $VC" || { echo "demo: route to $S4 is not over $VC" >&2; exit 1; }
[[ -z $(ip -n "$CLI" route show default; ip -n "$CLI" -6 route show default) ]] || { echo "demo: client namespace has a default route" >&2; exit 1; }

say "server: a TCP service on port 2222, rejected by iptables unless knocked"
# not through insrv: backgrounding a shell function forks a subshell, so $! would not be the
# service's PID and cleanup would leave it running (holding any lock the demo ran under)
ip netns exec "$SRV" node -e "require('net').createServer(s=>{s.on('error',()=>{});s.end('hello from the guarded service\n')}).listen(2222,'::')" &
PIDS+=($!)
# established connections stay up when a door closes (an SSH session outlives the door)
insrv iptables  -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
insrv ip6tables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
insrv iptables  -A INPUT -p tcp --dport 2222 -j REJECT --reject-with tcp-reset
insrv ip6tables -A INPUT -p tcp --dport 2222 -j REJECT --reject-with tcp-reset

mkdir -p "$WORK/keys" "$WORK/state" "$WORK/home/.knock"
chmod 700 "$WORK/keys" "$WORK/state" "$WORK/home/.knock"
cat > "$WORK/knockd.conf" <<CONF
[options]
	Interface = $VS
	LogFile   = $WORK/knockd.log
	AuditLog  = $WORK/audit.log
	StateDir  = $WORK/state
	KeysDir   = $WORK/keys

# a classic knockd door (knockd 0.8 reads this file too). The commands are idempotent:
# "-C || -I" counts a rule that is already there as open, "! -C || -D" a rule already gone
# as closed, so a firewall reload from outside can never lock the user out; -w waits for
# the xtables lock instead of failing.
[openSSH]
	sequence      = 7000,8000:udp,9000
	seq_timeout   = 5
	tcpflags      = syn
	start_command = iptables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || iptables -w -I INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT
	cmd_timeout   = 4
	stop_command  = ! iptables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || iptables -w -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT

# the same door opened by a signed single-packet knock
[ssh]
	spa             = yes
	start_command   = iptables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || iptables -w -I INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT
	start_command_6 = ip6tables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || ip6tables -w -I INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT
	cmd_timeout     = 4
	stop_command    = ! iptables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || iptables -w -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT
	stop_command_6  = ! ip6tables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || ip6tables -w -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT
CONF
say "config ($WORK/knockd.conf), validated:"
node bin/knockd --check -c "$WORK/knockd.conf"

say "client: generate an Ed25519 key; server admin enrols its enrolment line (key.enrol) for user alice"
HOME="$WORK/home" node bin/knock --keygen --key "$WORK/home/.knock/key"
node bin/knockd -c "$WORK/knockd.conf" keys add alice "$(cat "$WORK/home/.knock/key.enrol")" --doors ssh

say "server: starting knockd-ts"
ip netns exec "$SRV" node bin/knockd -c "$WORK/knockd.conf" -v > "$WORK/daemon.out" 2> "$WORK/daemon.err" &
PIDS+=($!)
for _ in $(seq 50); do grep -q 'listening on' "$WORK/daemon.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'listening on' "$WORK/daemon.out" || { cat "$WORK/daemon.err"; echo "demo: daemon did not start" >&2; exit 1; }

probe() { # probe HOST -> prints open/closed
  if incli node -e "const s=require('net').connect({host:process.argv[1],port:2222,timeout:1500},()=>{process.exit(0)});s.on('error',()=>process.exit(1));s.on('timeout',()=>process.exit(1))" "$1"; then echo open; else echo closed; fi
}
wait_for() { # wait_for HOST STATE SECONDS
  for _ in $(seq $(( $3 * 10 ))); do [[ $(probe "$1") == "$2" ]] && { echo "port 2222 on $1 is $2"; return 0; }; sleep 0.1; done
  echo "demo: port 2222 on $1 did not become $2" >&2; return 1
}

say "before knocking: $(probe $S4)"
say "classic knock: knock $S4 7000 8000:udp 9000"
incli node bin/knock -v $S4 7000 8000:udp 9000
wait_for $S4 open 3
say "rules now in the server namespace:"; insrv iptables -S INPUT
say "waiting for cmd_timeout (4 s) to close the door"
wait_for $S4 closed 10

say "SPA knock over IPv6: knock --spa --key ~/.knock/key $S6"
HOME="$WORK/home" incli node bin/knock --spa --key "$WORK/home/.knock/key" -v $S6
wait_for $S6 open 3
wait_for $S6 closed 10

say "knockd log (knockd's format):"; cat "$WORK/knockd.log"
say "audit: who opened which door"; node bin/knockd -c "$WORK/knockd.conf" audit
say "demo finished: namespaces and rules are removed on exit"
