// A real OpenID Connect provider for the end-to-end tests: npm `oidc-provider` with its
// development sign-in pages (any login and password are accepted). Ferry is its one
// client; the `groups` claim lets the tests check Ferry's role mapping.
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT || 18090);
const issuer = `http://127.0.0.1:${port}`;
const callback = process.env.FERRY_OIDC_CALLBACK;
if (!callback) throw new Error("set FERRY_OIDC_CALLBACK to Ferry's redirect URI");

const groupsOf = (login) => (login.startsWith("dev-") ? ["ferry-deployers"] : ["everyone"]);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "ferry-e2e",
      client_secret: "ferry-e2e-secret",
      redirect_uris: [callback],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  // Claims of the requested scopes go into the ID token, which is all Ferry reads.
  conformIdTokenClaims: false,
  scopes: ["openid", "profile", "email", "groups"],
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
    groups: ["groups"],
  },
  pkce: { required: () => true },
  cookies: { keys: ["ferry-e2e-oidc-cookie-key"] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      name: `Test ${id}`,
      preferred_username: id,
      email: `${id}@example.test`,
      email_verified: true,
      groups: groupsOf(id),
    }),
  }),
});

provider.listen(port, "127.0.0.1", () => console.log(`oidc-provider listening on ${issuer}`));
