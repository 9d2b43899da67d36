#!/usr/bin/env bash
# Creates (and removes) the network namespace with a persistent TUN device in
# it that tuntcp attaches to. Everything lives inside the namespace: the root
# namespace gets no address, no route and no device.
set -euo pipefail

PROG=setup-tun.sh
# `ip` and `sysctl` live in sbin, which non-login root shells may lack.
PATH="$PATH:/usr/sbin:/sbin"

NETNS=tuntcp
DEV=tun0
ADDR=10.0.0.1/24
MTU=1500
TXQUEUELEN=500

usage() {
  cat <<EOF
usage: $PROG up     [--netns NAME] [--dev NAME] [--addr CIDR] [--mtu N] [--txqueuelen N]
       $PROG down   [--netns NAME]
       $PROG status [--netns NAME] [--dev NAME]
       $PROG --help

  up      create network namespace NAME (default $NETNS) with a persistent TUN
          device (default $DEV) holding the kernel's side address (default
          $ADDR); IPv6 is disabled in the namespace so the device stays quiet.
          Running it again reconfigures. Until tuntcp opens the device it shows
          NO-CARRIER; the link comes up when the process attaches.
  down    delete the namespace and every TUN device in it (fine if absent).
  status  show the namespace and the device; exit 1 if not set up.

  --mtu 68..65535 (default $MTU)   --txqueuelen 1..1000000 (default $TXQUEUELEN)
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

# Runs a command; on failure reports its first line of stderr as our one line.
run() {
  local out
  if ! out=$("$@" 2>&1); then
    out=${out%%$'\n'*}
    die "'$*' failed: ${out:-exit status non-zero}"
  fi
}

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
CMD=$1
shift
case "$CMD" in
  -h|--help|help) usage; exit 0 ;;
  up|down|status) ;;
  *) echo "$PROG: unknown command '$CMD' (expected up, down, status or --help)" >&2; exit 2 ;;
esac

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || { echo "$PROG: option $1 needs a value" >&2; exit 2; }
}
bad_arg() {
  echo "$PROG: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --netns) need_value "$@"; NETNS=$2; shift 2 ;;
    --dev) need_value "$@"; DEV=$2; shift 2 ;;
    --addr) need_value "$@"; ADDR=$2; shift 2 ;;
    --mtu) need_value "$@"; MTU=$2; shift 2 ;;
    --txqueuelen) need_value "$@"; TXQUEUELEN=$2; shift 2 ;;
    *) bad_arg "unknown option '$1' (see --help)" ;;
  esac
done

[[ "$NETNS" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] \
  || bad_arg "invalid namespace name '$NETNS' (letters, digits, '_', '.', '-'; at most 64)"
[[ "$DEV" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$ ]] \
  || bad_arg "invalid device name '$DEV' (letters, digits, '_', '.', '-'; at most 15)"
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
[[ "$ADDR" =~ ^$octet\.$octet\.$octet\.$octet/([0-9]|[12][0-9]|3[0-2])$ ]] \
  || bad_arg "invalid address '$ADDR' (expected IPv4 CIDR such as 10.0.0.1/24)"
[[ "$MTU" =~ ^[0-9]{1,5}$ ]] && (( 10#$MTU >= 68 && 10#$MTU <= 65535 )) \
  || bad_arg "invalid MTU '$MTU' (68..65535)"
[[ "$TXQUEUELEN" =~ ^[0-9]{1,7}$ ]] && (( 10#$TXQUEUELEN >= 1 && 10#$TXQUEUELEN <= 1000000 )) \
  || bad_arg "invalid txqueuelen '$TXQUEUELEN' (1..1000000)"
MTU=$((10#$MTU))
TXQUEUELEN=$((10#$TXQUEUELEN))

command -v ip >/dev/null 2>&1 || die "the 'ip' command is missing (install iproute2)"

has_net_admin() {
  # The capability set is the authority (root in a container may lack
  # CAP_NET_ADMIN); EUID 0 only stands in when /proc cannot tell.
  local caps
  caps=$(awk '/^CapEff:/ { print $2 }' /proc/self/status 2>/dev/null) || caps=
  if [[ -z "$caps" ]]; then
    [[ $EUID -eq 0 ]]
    return
  fi
  # CAP_NET_ADMIN is capability 12 (addresses, devices); CAP_SYS_ADMIN is 21
  # (creating and entering network namespaces).
  (( (16#$caps >> 12) & 1 )) && (( (16#$caps >> 21) & 1 ))
}
has_net_admin || die "needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN (try: sudo $0 $CMD ...)"

ns_exists() {
  [[ -e "/var/run/netns/$NETNS" ]]
}

# Writes a sysctl inside the namespace; ip netns exec gives the command the
# namespace's own /proc/sys/net.
ns_sysctl() {
  local key=$1 value=$2
  if command -v sysctl >/dev/null 2>&1; then
    run ip netns exec "$NETNS" sysctl -qw "$key=$value"
  else
    run ip netns exec "$NETNS" sh -c "echo $value > /proc/sys/${key//.//}"
  fi
}

cmd_up() {
  if ! ns_exists; then
    run ip netns add "$NETNS"
  fi
  run ip -n "$NETNS" link set lo up
  # Disable IPv6 before the device exists, so it never sends MLD reports or
  # router solicitations (they would show up as unexpected packets).
  if [[ -d /proc/sys/net/ipv6 ]]; then
    ns_sysctl net.ipv6.conf.default.disable_ipv6 1
    ns_sysctl net.ipv6.conf.all.disable_ipv6 1
  fi
  if ip -n "$NETNS" link show dev "$DEV" >/dev/null 2>&1; then
    ip -n "$NETNS" -d link show dev "$DEV" 2>/dev/null | grep -q 'tun type tun' \
      || die "device '$DEV' already exists in namespace '$NETNS' and is not a TUN device"
  else
    run ip -n "$NETNS" tuntap add dev "$DEV" mode tun
  fi
  if [[ -d /proc/sys/net/ipv6 ]]; then
    ns_sysctl "net.ipv6.conf.$DEV.disable_ipv6" 1
  fi
  # Flush then add, so that running up again with another address replaces it.
  run ip -n "$NETNS" addr flush dev "$DEV"
  run ip -n "$NETNS" addr add "$ADDR" dev "$DEV"
  run ip -n "$NETNS" link set dev "$DEV" mtu "$MTU" txqueuelen "$TXQUEUELEN" up
  echo "$PROG: namespace '$NETNS' ready: $DEV $ADDR mtu $MTU txqueuelen $TXQUEUELEN (NO-CARRIER until tuntcp attaches)"
}

cmd_down() {
  if ! ns_exists; then
    echo "$PROG: namespace '$NETNS' does not exist; nothing to do"
    return 0
  fi
  # Persistent TUN devices are deleted explicitly rather than trusting the
  # namespace teardown, and before it, while we can still name them.
  local devs dev
  devs=$(ip -n "$NETNS" -o link show type tun 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }') || devs=
  for dev in $devs; do
    run ip -n "$NETNS" tuntap del dev "$dev" mode tun
  done
  run ip netns delete "$NETNS"
  echo "$PROG: namespace '$NETNS' removed"
}

cmd_status() {
  if ! ns_exists; then
    echo "$PROG: namespace '$NETNS' does not exist (run: $PROG up --netns $NETNS)"
    return 1
  fi
  if ! ip -n "$NETNS" link show dev "$DEV" >/dev/null 2>&1; then
    echo "$PROG: namespace '$NETNS' exists but has no device '$DEV'"
    return 1
  fi
  echo "namespace: $NETNS"
  ip -n "$NETNS" -d link show dev "$DEV"
  ip -n "$NETNS" -br addr show dev "$DEV"
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
esac
