// A real OpenID provider for DreamOps' single sign-on tests: npm's oidc-provider, with
// its development sign-in form (any login works; the login is the email address, which
// the provider vouches for), consent taken as given, and the clients OIDC_CLIENTS names
// (JSON: [{"client_id", "client_secret", "redirect_uris"}]). Listens on
// 127.0.0.1:OIDC_PORT; its issuer is http://127.0.0.1:OIDC_PORT.
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS ?? "[]");

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  })),
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  // The scope's claims go into the ID token too, as most providers put them.
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true }; } };
  },
  // The person agreed already: no consent page.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email");
    await grant.save();
    return grant;
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;

const server = provider.listen(port, "127.0.0.1", () => console.log(`OpenID provider at ${issuer}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
