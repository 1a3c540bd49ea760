"""The gateway REST API (`/api/v1`), a Starlette app mounted on the Reflex backend through
`rx.App(api_transformer=gateway_api)`. It sits outside the Reflex guard and authenticates API keys itself."""

from admin_panel.api.app import create_api, gateway_api

__all__ = ["create_api", "gateway_api"]
