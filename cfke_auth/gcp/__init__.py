"""Google Cloud through Workload Identity Federation: the pod token becomes google-auth credentials.

* :mod:`.names` -- the provider's resource names and audience, validated before any request;
* :mod:`.settings` -- every argument checked and completed into one hashable settings object;
* :mod:`.protocol` -- the sans-IO STS exchange, then IAM Credentials ``generateAccessToken`` or ``generateIdToken``;
* :mod:`.errors` -- Google's refusals as typed errors with hints;
* :mod:`.refresh` -- the shared refreshing access-token, ID-token and federated credentials;
* :mod:`.signing` -- signing as a service account through IAM Credentials ``signBlob``;
* :mod:`.credentials` -- the google-auth adapters, ``get_gcp_credentials`` and ``get_gcp_id_token_credentials``;
* :mod:`.cred_config` -- the ``external_account`` configuration file other processes can load;
* :mod:`.terraform` -- the pool, provider and binding as Terraform, for ``cfke-auth gcp principal``.

Only :mod:`.credentials` imports google-auth, so the command line works without it.
"""
