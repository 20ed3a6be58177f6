"""What to do when a new instance never answers: said in the failure itself.

The two failures a first deploy of a real app meets most are a process that
ends at once (a script, not a server) and a server on a port of its own
choosing. The hint names the port it does listen on, read from the kernel's
table of the container's network namespace, and the setting to change.
"""

from deployments.runtime.base import InstanceState

_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def listening_ports(proc_net_tcp: str) -> list[int]:
    """The listening ports in the text of /proc/net/tcp and tcp6 (local address column)."""
    ports = set()
    for line in proc_net_tcp.splitlines()[:10_000]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        address = fields[1].rsplit(":", 1)[0]
        # Loopback is out of reach from outside, and holds Docker's own DNS
        # resolver (127.0.0.11) on a port of its choosing.
        if (address.endswith("7F") and len(address) == 8) or address == "0" * 24 + "01000000":
            continue
        try:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except ValueError:
            continue
    return sorted(ports)


def for_exit(state: InstanceState, suggestion: str) -> str:
    if state.running or state.oom_killed or state.exit_code != 0:
        return ""
    advice = (
        "A web process must keep running and answer HTTP on the port in the PORT variable; "
        "this one ran to its end."
    )
    if suggestion:
        return f"{advice} Set the service's start command to: {suggestion} (or a Procfile 'web:' line)."
    return (
        f"{advice} Set the service's start command (or a Procfile 'web:' line) "
        "to the command that starts your server."
    )


def for_port(port: int, listening: list[int], suggestion: str) -> str:
    others = [p for p in listening if p != port]
    if port in listening or not others:
        if suggestion and not listening:
            return f"Nothing listens on any port; a start command that serves the app: {suggestion}."
        return ""
    found = ", ".join(str(p) for p in others[:5])
    return (
        f"It listens on port {found} instead. Set the service's port to {others[0]} "
        f"(--port {others[0]}), or make the app listen on the port in the PORT variable ({port})."
    )
