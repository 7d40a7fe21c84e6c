"""AWS: the pod's token exchanged for IAM role credentials through STS ``AssumeRoleWithWebIdentity``.

One module per idea: :mod:`.arguments` (checking and defaulting what callers pass), :mod:`.endpoint` (which STS
URL to call), :mod:`.sts` (the sans-IO exchange) with :mod:`.xmldoc` (reading its XML) and :mod:`.errors` (STS
error codes to actionable errors), :mod:`.policy` (the IAM trust the exchange relies on), :mod:`.credential` (the
shared refreshing credential), and the SDK adapters: :mod:`.botocore_credentials`, :mod:`.boto3_session`,
:mod:`.aiobotocore_session`. Only the adapters import botocore, so the ``credential-process`` command stays light.
"""
