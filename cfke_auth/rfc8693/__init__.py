"""Generic OAuth 2.0 Token Exchange (RFC 8693): the pod's token in, an access token for any OIDC-trusting service out.

For services that are not AWS, Google Cloud or Azure but run an RFC 8693 token endpoint (Keycloak, Dex, Zitadel, an
in-house STS). Same shape as every provider package: :mod:`.settings`, :mod:`.protocol` (also the request builder
Google STS reuses), :mod:`.errors`, :mod:`.refresh`, and the adapter :mod:`.credentials`, an ``httpx.Auth``.
"""
