// Validation of the two things a person types, as the server and the client both apply it:
// the result type and the public names. The rules live in address.ts (with domain.ts) and
// message.ts; how input is quoted in their messages, in display.ts.

export type ValidationResult<T> =
  | { ok: true; value: T }
  | { ok: false; field: "email" | "message"; code: "INVALID_EMAIL" | "INVALID_MESSAGE"; error: string };

export { MAX_ADDRESS_OCTETS, MAX_LOCAL_OCTETS, validateEmail, type ValidEmail } from "./address";
export { MAX_DOMAIN_OCTETS, MAX_LABEL_OCTETS } from "./domain";
export { DEFAULT_MAX_MESSAGE_CHARS, validateMessage } from "./message";
