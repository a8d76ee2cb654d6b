// Secrets never reach output: anything printed from protocol debug logs or errors passes
// through here. Besides the password itself, the base64 forms that SASL PLAIN/LOGIN put on
// the wire are masked too; so are OAuth2 tokens (learned while running, see SecretBook) and any
// base64 SASL XOAUTH2/OAUTHBEARER message, whatever token and framing it carries.

export function secretForms(login: string, password: string): string[] {
  if (!password) return [];
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  const forms = [password, b64(password), b64(`\0${login}\0${password}`), b64(`${login}\0${login}\0${password}`)];
  return [...new Set(forms.filter((f) => f.length >= 3))];
}

export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join("***");
  return maskBearerMessages(out);
}

/** Secrets that become known while running (access and refresh tokens): masked from then on. */
export class SecretBook {
  private readonly secrets = new Set<string>();
  add(secret: string | null | undefined): void {
    if (secret && secret.length >= 8) this.secrets.add(secret);
  }
  [Symbol.iterator](): Iterator<string> {
    return this.secrets[Symbol.iterator]();
  }
}

// base64 of "auth=Bearer " at any of the three alignments it can take inside a longer message.
const BEARER_B64 = /[A-Za-z0-9+/]*(?:YXV0aD1CZWFyZXIg|F1dGg9QmVhcmVyI|hdXRoPUJlYXJlci)[A-Za-z0-9+/]*={0,2}/g;

/** A base64 SASL OAuth2 message carries the token: masked whole. */
export function maskBearerMessages(text: string): string {
  return text.replace(BEARER_B64, "***");
}

export function makeRedactor(login: string, password: string, learned?: SecretBook): (text: string) => string {
  const forms = secretForms(login, password);
  return (text) => redact(text, learned ? [...forms, ...learned] : forms);
}
