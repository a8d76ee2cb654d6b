// hoodiecrow-imap ships no types; the sandbox wraps it in a typed API (lib/sandbox/imap.ts).
declare module "hoodiecrow-imap" {
  const hoodiecrow: (options: Record<string, unknown>) => any;
  export default hoodiecrow;
}
