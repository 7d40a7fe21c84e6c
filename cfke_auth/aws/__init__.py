"""AWS: the pod's token exchanged for IAM role credentials through STS ``AssumeRoleWithWebIdentity``.

The provider shape every package here follows: :mod:`.settings` (arguments and environment, checked), :mod:`.protocol`
(the sans-IO exchange; :mod:`.xmldoc` reads its XML), :mod:`.errors` (STS error codes to actionable errors),
:mod:`.refresh` (the shared refreshing credential), and the SDK adapters :mod:`.credentials` (botocore/boto3) and
:mod:`.aio` (aiobotocore). :mod:`.endpoint` and :mod:`.profile` pick the STS URL as the SDKs do; :mod:`.policy` is the
IAM trust the exchange relies on. Only the adapters import botocore, so ``cfke-auth aws credential-process`` stays
light. The public entry points are re-exported by :mod:`cfke_auth`.
"""
