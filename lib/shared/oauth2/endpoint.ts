// One POST to an OAuth2 endpoint (token, device authorization), shared by the token source and
// the login helper: form body, client authentication, a deadline, and the provider's error as
// data. Nothing here prints; callers say what an error means for the person.
import { MailerError } from "../errors";

export interface Client {
  clientId: string;
  clientSecret: string | null;
}

export type EndpointReply =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; status: number; error: string; description: string };

const TIMEOUT_MS = 15_000;

/** POSTs `form` (plus client_id and client_secret) to `url`; network trouble is a MailerError "unreachable". */
export async function postForm(url: string, client: Client, form: Record<string, string>, fetchImpl: typeof fetch = fetch): Promise<EndpointReply> {
  const body = new URLSearchParams({ ...form, client_id: client.clientId });
  if (client.clientSecret) body.set("client_secret", client.clientSecret);
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: "error",
    });
  } catch (err) {
    const why = (err as Error).name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : (err as Error).message;
    throw new MailerError("unreachable", `cannot reach the OAuth2 endpoint ${url}: ${why}`);
  }
  const text = await res.text().catch(() => "");
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  if (res.ok && typeof json === "object" && json) return { ok: true, body: json };
  const error = typeof json.error === "string" ? json.error : `HTTP ${res.status}`;
  // Microsoft's descriptions run to several lines with trace ids: the first sentence is enough.
  const description = typeof json.error_description === "string" ? json.error_description.split(/\r?\n/)[0]!.slice(0, 200) : "";
  if (res.status >= 500) throw new MailerError("unreachable", `the OAuth2 endpoint ${url} failed (${error}${description ? `: ${description}` : ""}) — retrying later may help`);
  return { ok: false, status: res.status, error, description };
}

/** "invalid_grant: the token was revoked" */
export function providerSaid(reply: { error: string; description: string }): string {
  return reply.description ? `${reply.error}: ${reply.description}` : reply.error;
}

/** The client itself is wrong: unknown id, wrong secret, not allowed this grant. */
export function isClientError(error: string): boolean {
  return error === "invalid_client" || error === "unauthorized_client";
}
