// @azure/identity with nothing passed in code: ManagedIdentityCredential (or, with "default" as second argument,
// DefaultAzureCredential) finds App Service managed identity through IDENTITY_ENDPOINT + IDENTITY_HEADER.
// Prints one JSON line: the token for the scope (first argument) and its expiry, or the error.
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";

const [scope = "https://storage.azure.com/.default", kind = "managed"] = process.argv.slice(2);
try {
  const credential = kind === "default" ? new DefaultAzureCredential() : new ManagedIdentityCredential();
  const token = await credential.getToken(scope);
  console.log(JSON.stringify({
    token: token.token, expiresOnTimestamp: token.expiresOnTimestamp,
    refreshAfterTimestamp: token.refreshAfterTimestamp ?? null, tokenType: token.tokenType ?? null,
  }));
} catch (error) {
  console.log(JSON.stringify({ error: error.name, message: error.message }));
  process.exitCode = 1;
}
