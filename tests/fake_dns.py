"""Host names the tests make up, answered without a DNS server (nothing here reaches the network); any other
host (IP literals, localhost) is resolved as usual. `answers` may change between two look-ups, as a real DNS
server's may (webhook URLs are checked at save and again at send)."""

from services.core import outbound_url


class Dns:
    def __init__(self, monkeypatch):
        self.answers = {"hooks.example.com": ["93.184.215.14"], "internal.example.com": ["10.1.2.3"]}
        real = outbound_url.resolve
        monkeypatch.setattr(outbound_url, "resolve",
                            lambda host, port: list(self.answers[host]) if host in self.answers else real(host, port))
