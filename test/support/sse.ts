// A text/event-stream reader over fetch, for tests: parsed events as they arrive, and the raw text.
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseReader {
  status: number;
  headers: Headers;
  events: SseEvent[];
  /** Everything received, comments included. */
  text(): string;
  /** Resolves with the first event (from the start) that `match` accepts. */
  next(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal });
  const events: SseEvent[] = [];
  let raw = "";
  let buffer = "";
  const waiters: (() => void)[] = [];
  if (res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          raw += value;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const e: SseEvent = { event: "message", data: "" };
            const data: string[] = [];
            let any = false;
            for (const line of block.split("\n")) {
              if (line.startsWith(":") || line === "") continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "id") e.id = value;
              else if (field === "event") e.event = value;
              else if (field === "data") data.push(value);
              else continue;
              any = true;
            }
            if (!any || data.length === 0) continue;
            e.data = data.join("\n");
            events.push(e);
          }
          for (const w of waiters.splice(0)) w();
        }
      } catch {
        // aborted
      }
    })();
  }
  return {
    status: res.status,
    headers: res.headers,
    events,
    text: () => raw,
    async next(match, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    close: () => abort.abort(),
  };
}
