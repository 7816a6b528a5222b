// Server-sent events on a hijacked reply: the WHATWG text/event-stream format (id, event, data lines), comment
// heartbeats so proxies and the browser see the stream alive, and a bound on what may queue for a slow reader:
// past it the stream is closed and the client resumes with Last-Event-ID (EventSource does that by itself).
// No SSE library is installed this round; the format is these few lines, tested in test/dashboard-backend.test.ts.
import type { FastifyReply } from "fastify";

export const DEFAULT_SSE_HEARTBEAT_MS = 15_000;
/** Bytes that may wait in the socket for a reader that does not read; past it, it is disconnected. */
export const SSE_MAX_BUFFERED = 1024 * 1024;
/** What EventSource waits before reconnecting (ms), sent as the stream's `retry:`. */
export const SSE_RETRY_MS = 1000;

export interface SseStream {
  send(event: { id?: string; event?: string; data: string }): void;
  /** Ends the stream (the client reconnects). */
  end(): void;
  onClose(listener: () => void): void;
}

const oneLine = (s: string) => s.replace(/[\r\n]/g, " ");

/** The text of one event; data may hold newlines only as separate data: lines. */
export function formatEvent(e: { id?: string; event?: string; data: string }): string {
  let out = "";
  if (e.id !== undefined) out += `id: ${oneLine(e.id)}\n`;
  if (e.event !== undefined) out += `event: ${oneLine(e.event)}\n`;
  for (const line of e.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

export function openSse(reply: FastifyReply, heartbeatMs = DEFAULT_SSE_HEARTBEAT_MS): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no", // nginx: pass events on as they come
  });
  res.write(`retry: ${SSE_RETRY_MS}\n: connected\n\n`);
  let open = true;
  const write = (text: string) => {
    if (!open) return;
    if (res.writableLength > SSE_MAX_BUFFERED) return void res.destroy(); // a reader this far behind resumes by id
    res.write(text);
  };
  const heartbeat = setInterval(() => write(": heartbeat\n\n"), heartbeatMs);
  heartbeat.unref();
  const closeListeners: (() => void)[] = [];
  res.on("close", () => {
    open = false;
    clearInterval(heartbeat);
    for (const l of closeListeners) l();
  });
  const stream: SseStream = {
    send: (e) => write(formatEvent(e)),
    end: () => {
      if (!open) return;
      open = false;
      res.end();
    },
    onClose: (l) => closeListeners.push(l),
  };
  return stream;
}
