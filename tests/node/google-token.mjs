// google-auth-library's Application Default Credentials with nothing passed in code: on a "GCE" found through
// GCE_METADATA_HOST, an access token (getAccessToken), or with an audience argument an ID token
// (getIdTokenClient). Prints one JSON line: the token, the client class and the project id, or the error.
import { GoogleAuth } from "google-auth-library";

const audience = process.argv[2];
try {
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  if (audience) {
    const client = await auth.getIdTokenClient(audience);
    const headers = await client.getRequestHeaders();
    const authorization = headers instanceof Headers ? headers.get("authorization") : headers.Authorization;
    console.log(JSON.stringify({ idToken: authorization.replace(/^Bearer /, "") }));
  } else {
    const client = await auth.getClient();
    const { token } = await client.getAccessToken();
    const projectId = await auth.getProjectId();
    console.log(JSON.stringify({
      token, client: client.constructor.name, projectId, expiryDate: client.credentials.expiry_date ?? null,
    }));
  }
} catch (error) {
  console.log(JSON.stringify({ error: error.name, message: error.message }));
  process.exitCode = 1;
}
