"""AWS: the pod's token exchanged for IAM role credentials through STS ``AssumeRoleWithWebIdentity``, optionally
chained on through ``AssumeRole`` into further roles (:class:`RoleHop`).

The provider shape every package here follows: :mod:`.settings` (arguments and environment, checked), :mod:`.protocol`
(the sans-IO exchanges; :mod:`.xmldoc` reads their XML, :mod:`.sigv4` signs a chain's hops), :mod:`.errors` (STS error
codes to actionable errors), :mod:`.refresh` (the shared refreshing credentials, and failing over between STS
endpoints), and the SDK adapters :mod:`.credentials` (botocore/boto3) and :mod:`.aio` (aiobotocore). :mod:`.endpoint`
and :mod:`.profile` pick the STS URLs as the SDKs do; :mod:`.policy` is the IAM trust the exchange relies on. Only the
adapters import botocore, so ``cfke-auth aws credential-process`` stays light. The public entry points are re-exported
by :mod:`cfke_auth`.
"""

from .settings import RoleHop

__all__ = ["RoleHop"]
