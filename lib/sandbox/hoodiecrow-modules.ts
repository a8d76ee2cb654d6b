// hoodiecrow loads its plugins and command handlers with computed require() paths
// (require("./plugins/" + name)), which a `bun build --compile` bundle cannot follow: the
// mailer-sandbox binary stopped with MODULE_NOT_FOUND. Here every one the sandbox uses is
// required by a literal path, so the bundler includes it, and handed to hoodiecrow directly.
/* eslint-disable @typescript-eslint/no-require-imports */
type Plugin = (server: unknown) => void;
type Handler = (...args: unknown[]) => void;

export const PLUGINS: Record<string, Plugin> = {
  ID: require("hoodiecrow-imap/lib/plugins/id.js"),
  ENABLE: require("hoodiecrow-imap/lib/plugins/enable.js"),
  NAMESPACE: require("hoodiecrow-imap/lib/plugins/namespace.js"),
  UNSELECT: require("hoodiecrow-imap/lib/plugins/unselect.js"),
  UIDPLUS: require("hoodiecrow-imap/lib/plugins/uidplus.js"),
  LITERALPLUS: require("hoodiecrow-imap/lib/plugins/literalplus.js"),
  "SPECIAL-USE": require("hoodiecrow-imap/lib/plugins/special-use.js"),
  IDLE: require("hoodiecrow-imap/lib/plugins/idle.js"),
  STARTTLS: require("hoodiecrow-imap/lib/plugins/starttls.js"),
};

/** Every command hoodiecrow would autoload (lib/commands/*.js), by command name. */
export const COMMANDS: Record<string, Handler> = {
  APPEND: require("hoodiecrow-imap/lib/commands/append.js"),
  CAPABILITY: require("hoodiecrow-imap/lib/commands/capability.js"),
  CHECK: require("hoodiecrow-imap/lib/commands/check.js"),
  CLOSE: require("hoodiecrow-imap/lib/commands/close.js"),
  COPY: require("hoodiecrow-imap/lib/commands/copy.js"),
  CREATE: require("hoodiecrow-imap/lib/commands/create.js"),
  DELETE: require("hoodiecrow-imap/lib/commands/delete.js"),
  EXAMINE: require("hoodiecrow-imap/lib/commands/examine.js"),
  EXPUNGE: require("hoodiecrow-imap/lib/commands/expunge.js"),
  FETCH: require("hoodiecrow-imap/lib/commands/fetch.js"),
  LIST: require("hoodiecrow-imap/lib/commands/list.js"),
  LOGIN: require("hoodiecrow-imap/lib/commands/login.js"),
  LOGOUT: require("hoodiecrow-imap/lib/commands/logout.js"),
  LSUB: require("hoodiecrow-imap/lib/commands/lsub.js"),
  NOOP: require("hoodiecrow-imap/lib/commands/noop.js"),
  RENAME: require("hoodiecrow-imap/lib/commands/rename.js"),
  SEARCH: require("hoodiecrow-imap/lib/commands/search.js"),
  SELECT: require("hoodiecrow-imap/lib/commands/select.js"),
  STATUS: require("hoodiecrow-imap/lib/commands/status.js"),
  STORE: require("hoodiecrow-imap/lib/commands/store.js"),
  SUBSCRIBE: require("hoodiecrow-imap/lib/commands/subscribe.js"),
  "UID COPY": require("hoodiecrow-imap/lib/commands/uid copy.js"),
  "UID FETCH": require("hoodiecrow-imap/lib/commands/uid fetch.js"),
  "UID SEARCH": require("hoodiecrow-imap/lib/commands/uid search.js"),
  "UID STORE": require("hoodiecrow-imap/lib/commands/uid store.js"),
  UNSUBSCRIBE: require("hoodiecrow-imap/lib/commands/unsubscribe.js"),
};

/** Registers the commands before any session asks for them: a plugin, the first (a plugin's own handler wins). */
export function registerCommands(server: { commandHandlers: Record<string, unknown>; setCommandHandler(name: string, h: Handler): void }): void {
  for (const [name, handler] of Object.entries(COMMANDS)) if (!server.commandHandlers[name]) server.setCommandHandler(name, handler);
}
