// Secrets never reach output: anything printed from protocol debug logs or errors passes
// through here. Besides the password itself, the base64 forms that SASL PLAIN/LOGIN put on
// the wire are masked too.

export function secretForms(login: string, password: string): string[] {
  if (!password) return [];
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  const forms = [password, b64(password), b64(`\0${login}\0${password}`), b64(`${login}\0${login}\0${password}`)];
  return [...new Set(forms.filter((f) => f.length >= 3))];
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join("***");
  return out;
}

export function makeRedactor(login: string, password: string): (text: string) => string {
  const forms = secretForms(login, password);
  return (text) => redact(text, forms);
}
