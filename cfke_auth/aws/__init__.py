"""AWS: the pod's token exchanged for IAM role credentials through STS ``AssumeRoleWithWebIdentity``.

One module per idea: :mod:`.arguments` (validating and defaulting what callers pass), :mod:`.endpoint` (which STS
URL to use), :mod:`.sts` (the sans-IO exchange), :mod:`.errors` (STS error codes to actionable errors),
:mod:`.credential` (the shared refreshing credential), and one adapter per SDK (:mod:`.boto3_session`,
:mod:`.aiobotocore_session`). Nothing here imports boto3 or aiobotocore except those two adapters, so the
``credential-process`` command stays light.
"""
