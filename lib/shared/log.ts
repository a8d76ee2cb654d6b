// Operational lines of the long-running programs (server, collector): one timestamped line
// each, for people by default ("2026-12-01T10:00:00.000Z text"), or with LOG_FORMAT=json one
// JSON object per line for log shippers: {"time","level","event","message",…fields}. Info goes
// to stdout, warnings and errors to stderr, in both formats. Every line passes `redact`.

export type LogFormat = "human" | "json";
export type Level = "info" | "warn" | "error";
export type Fields = Record<string, string | number | boolean | null | undefined>;

/** A line-shaped output that may also name its event and fields (ignored by plain sinks). */
export type Say = (line: string, event?: string, fields?: Fields) => void;

export interface Logger {
  info(event: string, message: string, fields?: Fields): void;
  warn(event: string, message: string, fields?: Fields): void;
  error(event: string, message: string, fields?: Fields): void;
  /** a line without a timestamp in human form: the start-up lines (readiness, its warning) */
  plain(event: string, message: string, fields?: Fields, level?: Level): void;
}

export interface LoggerOptions {
  format: LogFormat;
  out?: (line: string) => void;
  err?: (line: string) => void;
  now?: () => Date;
  redact?: (text: string) => string;
}

export function createLogger(o: LoggerOptions): Logger {
  const out = o.out ?? ((l) => console.log(l));
  const err = o.err ?? ((l) => console.error(l));
  const redact = o.redact ?? ((t) => t);
  const now = o.now ?? (() => new Date());
  const emit = (level: Level, stamped: boolean) => (event: string, message: string, fields: Fields = {}) => {
    const time = now().toISOString();
    const line =
      o.format === "json"
        ? JSON.stringify({ time, level, event, message, ...definedOnly(fields) })
        : stamped
          ? `${time} ${message}`
          : message;
    (level === "info" ? out : err)(redact(line));
  };
  return {
    info: emit("info", true),
    warn: emit("warn", true),
    error: emit("error", true),
    plain: (event, message, fields, level = "info") => emit(level, false)(event, message, fields),
  };
}

function definedOnly(fields: Fields): Fields {
  const kept: Fields = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && k !== "time" && k !== "level" && k !== "event" && k !== "message") kept[k] = v;
  return kept;
}
