#!/usr/bin/env bash
# Keep user code away from this machine and its provider: builds (RUN steps, on the
# engine's default bridge) and instances (on the environments' bridges, br-*) may not
# open connections to any address of the host, whatever port and whatever address the
# listener is bound to, nor to link-local addresses (169.254.0.0/16: the cloud's
# metadata service), nor to the ranges in FIREWALL_BLOCKED_RANGES. DNS and the internet
# stay open, and the host still reaches the containers (the ingress proxy, health checks).
#
# Run as root, after the Docker engine (it makes the DOCKER-USER chain). Safe to run any
# number of times: each run rewrites the platform's own two chains in one transaction
# and adds the jumps to them only where they are missing. Nothing removes them.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "scripts/firewall.sh must run as root to change the firewall." >&2
  exit 1
fi

# Two instances of this script (two checkouts starting at once) take turns.
lock=/run/m3o-firewall.lock
[ -w "$(dirname "$lock")" ] || lock=/tmp/m3o-firewall.lock
exec 9>"$lock"
flock 9

# Builds run on the engine's default bridge, named docker0 unless the engine says otherwise;
# user-defined networks (one per environment) get bridges named br-<network id>.
default_bridge=$(docker network inspect bridge \
  --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
bridges=("${default_bridge:-docker0}" "br-+")

v4_ranges=(169.254.0.0/16)
v6_ranges=()
extra=${FIREWALL_BLOCKED_RANGES:-}
for range in ${extra//,/ }; do
  if [[ $range =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$ ]]; then
    v4_ranges+=("$range")
  elif [[ $range =~ ^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(/[0-9]{1,3})?$ ]]; then
    v6_ranges+=("$range")
  else
    echo "FIREWALL_BLOCKED_RANGES: '$range' is not an address range (like 10.0.0.0/8 or fd00::/8)." >&2
    exit 1
  fi
done

# chains FAMILY REJECT-WITH RANGE...: the platform's chains, written whole.
chains() {
  local family=$1 reject=$2 bridge range
  shift 2
  echo "*filter"
  echo ":M3O-INPUT - [0:0]"
  echo ":M3O-FORWARD - [0:0]"
  # Replies to connections the host opened (the proxy, health checks) come back in.
  echo "-A M3O-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
  if [ "$family" = 6 ]; then
    # Neighbour discovery, without which those replies cannot even find the host.
    echo "-A M3O-INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j RETURN"
    echo "-A M3O-INPUT -p ipv6-icmp --icmpv6-type neighbour-advertisement -j RETURN"
  fi
  echo "-A M3O-INPUT -j REJECT --reject-with $reject"
  # Containers of one network talk to each other (the engine isolates the networks).
  for bridge in "${bridges[@]}"; do
    echo "-A M3O-FORWARD -o $bridge -j RETURN"
  done
  for range in "$@"; do
    echo "-A M3O-FORWARD -d $range -j REJECT --reject-with $reject"
  done
  echo "COMMIT"
}

# first TOOL CHAIN RULE...: put the rule at the top of the chain unless it is there.
first() {
  local tool=$1 chain=$2
  shift 2
  "$tool" -w -C "$chain" "$@" 2>/dev/null || "$tool" -w -I "$chain" 1 "$@"
}

# apply_rules TOOL FAMILY REJECT-WITH FORWARD-CHAIN RANGE...
apply_rules() {
  local tool=$1 family=$2 reject=$3 forward=$4 bridge
  shift 4
  chains "$family" "$reject" "$@" | "$tool-restore" -w --noflush
  for bridge in "${bridges[@]}"; do
    first "$tool" INPUT -i "$bridge" -j M3O-INPUT
    first "$tool" "$forward" -i "$bridge" -j M3O-FORWARD
  done
}

# The engine sends forwarded traffic through DOCKER-USER first and keeps it first;
# rules put straight into FORWARD would end up behind the engine's own ACCEPTs.
if ! iptables -w -n -L DOCKER-USER >/dev/null 2>&1; then
  echo "The Docker engine has not made its DOCKER-USER chain: start it (with its iptables rules) first." >&2
  exit 1
fi
apply_rules iptables 4 icmp-admin-prohibited DOCKER-USER "${v4_ranges[@]}"

# IPv6: the host's link-local address on each bridge is reachable even on networks
# without IPv6. Without IPv6 in the kernel there is nothing to close.
if ip6tables -w -n -L INPUT >/dev/null 2>&1; then
  forward6=FORWARD
  ip6tables -w -n -L DOCKER-USER >/dev/null 2>&1 && forward6=DOCKER-USER
  apply_rules ip6tables 6 icmp6-adm-prohibited "$forward6" ${v6_ranges[@]+"${v6_ranges[@]}"}
elif [ ${#v6_ranges[@]} -gt 0 ]; then
  echo "FIREWALL_BLOCKED_RANGES lists IPv6 ranges but ip6tables does not work here." >&2
  exit 1
fi
echo "Firewall: containers cannot reach this host, ${v4_ranges[*]}${v6_ranges[*]:+ ${v6_ranges[*]}}"
