"""Google Cloud through Workload Identity Federation: the pod token becomes google-auth credentials.

* :mod:`.names` -- the provider's resource names and audience, validated before any request;
* :mod:`.exchange` -- the sans-IO STS (+ IAM Credentials impersonation) exchange;
* :mod:`.errors` -- Google's refusals as typed errors with hints;
* :mod:`.credentials` -- the google-auth ``Credentials`` adapter and ``get_gcp_credentials``;
* :mod:`.cred_config` -- the ``external_account`` configuration file other processes can load;
* :mod:`.terraform` -- the pool, provider and binding as Terraform, for ``cfke-auth gcp principal``.

Only :mod:`.credentials` imports google-auth, so the command line works without it.
"""
