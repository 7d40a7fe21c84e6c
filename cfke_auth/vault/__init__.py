"""HashiCorp Vault and OpenBao: the pod's token logs in through the JWT auth method, and the Vault token it gets is
kept alive by the refresh engine.

The provider shape every package here follows: :mod:`.settings` (arguments and ``VAULT_*`` variables, checked),
:mod:`.protocol` (the sans-IO login and ``renew-self``, and the flow choosing between them), :mod:`.errors` (Vault's
``{"errors": [...]}`` answers as errors that name what the role must hold), :mod:`.refresh` (the shared refreshing
credential) and the hvac adapter :mod:`.credentials`. :mod:`.setup` prints the ``vault``/``bao`` commands that make a
JWT auth method trust the cluster; it and the error hints share one idea of what a role looks like. Only
:mod:`.credentials` imports hvac. The public entry point is re-exported by :mod:`cfke_auth`.
"""
