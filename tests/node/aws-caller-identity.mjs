// GetCallerIdentity through the AWS SDK's default credential chain and endpoint resolution, nothing passed in code:
// AWS_CONTAINER_CREDENTIALS_FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), AWS_REGION, AWS_ENDPOINT_URL_STS.
// Prints one JSON line: the caller identity and the access key id the chain resolved, or the error.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

try {
  const client = new STSClient({});
  const identity = await client.send(new GetCallerIdentityCommand({}));
  const credentials = await client.config.credentials();
  console.log(JSON.stringify({
    Account: identity.Account, Arn: identity.Arn, UserId: identity.UserId,
    accessKeyId: credentials.accessKeyId, expiration: credentials.expiration?.toISOString() ?? null,
  }));
} catch (error) {
  console.log(JSON.stringify({ error: error.name, message: error.message }));
  process.exitCode = 1;
}
