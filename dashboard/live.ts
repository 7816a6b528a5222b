// The fleet event stream (GET /api/v1/events) as a Preact hook. EventSource sends the session cookie, reconnects
// by itself and resumes with Last-Event-ID; a `reset` event (missed events no longer kept) asks the page to reload.
import { useEffect } from "preact/hooks";

export type LiveHandlers = Record<string, (data: any) => void>;

export function useEvents(query: string, handlers: LiveHandlers, onReset: () => void): void {
  useEffect(() => {
    const source = new EventSource(`/api/v1/events${query}`);
    for (const [type, handle] of Object.entries(handlers)) source.addEventListener(type, (e) => handle(JSON.parse((e as MessageEvent).data)));
    source.addEventListener("reset", onReset);
    return () => source.close();
  }, [query]);
}
