// Logs without secrets: a URL's password and token-like query values become ***, secret fields and headers are
// censored by pino, and a request is logged as method, URL (sanitised), host and peer only, never its headers.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

export const REDACTED = "***";

/** Query parameters that carry a secret (compared case-insensitively): `?access_token=` is how a WebSocket device logs in. */
const SECRET_QUERY = new Set(["access_token", "token", "key", "api_key", "apikey", "password", "pass", "credential", "secret"]);

/** Fields censored wherever a log line carries them, top level or one object down (`req.headers.*` too). */
const SECRET_FIELDS = ["password", "credential", "authorization", "token", "access_token", "apiKey", "api_key"];
const SECRET_HEADERS = ["authorization", "x-api-key", "cookie", "proxy-authorization"];
export const REDACT_PATHS = [...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]), ...SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`])];

/** `name=value&...` with every secret parameter's value replaced. */
function redactQuery(query: string): string {
  return query
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replaceAll("+", " "));
      } catch {}
      return eq >= 0 && SECRET_QUERY.has(decoded.toLowerCase()) ? `${name}=${REDACTED}` : pair;
    })
    .join("&");
}

const USERINFO_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:'"]*:)[^\s/?#'"]*@/gi;
const SECRET_QUERY_IN_TEXT = new RegExp(`([?&](?:${[...SECRET_QUERY].join("|")})=)[^&#\\s'"]*`, "gi");

/** Free text (an error message that quotes what the user typed) with every URL's password and secret query value hidden. */
export function redactUrlsIn(text: string): string {
  return text.replace(USERINFO_IN_TEXT, `$1${REDACTED}@`).replace(SECRET_QUERY_IN_TEXT, `$1${REDACTED}`);
}

/**
 * A URL (absolute, or a request's path and query) fit for a log or a message: the userinfo password and secret query
 * values are ***. A string that does not parse as a URL loses everything between `scheme://user:` and the last `@`.
 */
export function redactUrl(url: string): string {
  let out = url;
  try {
    const u = new URL(url);
    if (u.password) {
      u.password = REDACTED;
      out = u.toString();
    }
  } catch {
    out = url.replace(USERINFO_IN_TEXT, `$1${REDACTED}@`);
  }
  const q = out.indexOf("?");
  if (q < 0) return out;
  const hash = out.indexOf("#", q);
  const end = hash < 0 ? out.length : hash;
  return out.slice(0, q + 1) + redactQuery(out.slice(q + 1, end)) + out.slice(end);
}

/** Fastify's request serializer, minus the secrets its URL may hold (it never logs headers: neither does this). */
function request(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

const SAFE: Pick<LoggerOptions, "redact" | "serializers"> = {
  redact: { paths: REDACT_PATHS, censor: REDACTED },
  serializers: { req: request },
};

/** A pino logger that censors secrets (the CLI's). */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  return destination ? pino({ ...options, ...SAFE }, destination) : pino({ ...options, ...SAFE });
}

/** A child of any logger (one a caller passed in) with the same censoring; it replaces the parent's own redact list. */
export function secretSafe(logger: Logger): Logger {
  return logger.child({}, SAFE);
}
