from dataclasses import dataclass, field


@dataclass(frozen=True)
class Site:
    """One service as the proxy sees it."""

    key: str  # stable and unique, e.g. "s12": names its access log
    hosts: list[str]  # plain-HTTP names: the service's own address
    domains: list[str] = field(default_factory=list)  # custom domains, served over HTTPS
    # The web replicas' addresses, "172.18.0.5:8000", balanced round-robin; empty: nothing to send to.
    upstreams: list[str] = field(default_factory=list)
    # It should be running, but its instance has no address (crashed, restarting): "not answering".
    down: bool = False
    # It runs but fails its health checks: taken out, answered "unhealthy" until it passes again.
    unhealthy: bool = False

    @property
    def upstream(self) -> str | None:
        """The first replica's address (None: none), for what needs only one."""
        return self.upstreams[0] if self.upstreams else None
