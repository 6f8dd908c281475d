"""A fake Slack incoming webhook: `POST /services/T…/B…/…` with `{"text": ...}` answers
`ok` (text/plain), as Slack documents; `revoke()` makes it answer 404 `no_service`, as for a
webhook removed from the workspace. Every message received is kept in `messages`."""

from __future__ import annotations

from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

PATH = "/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX"


class FakeSlack(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.revoked = False
        self.on("POST", PATH, self._post)

    @property
    def webhook_url(self) -> str:
        return self.url + PATH

    def revoke(self) -> None:
        self.revoked = True

    def _post(self, req: Recorded, match) -> Reply:
        if self.revoked:
            return Reply(404, "no_service")
        try:
            payload = req.json()
        except ValueError:
            return Reply(400, "invalid_payload")
        if not isinstance(payload, dict) or not payload.get("text"):
            return Reply(400, "no_text")
        self.messages.append(payload)
        return Reply(200, "ok")
