// Hash routes (#/devices/pump-1): the backend serves one index.html, and a reload keeps the page.
import { useEffect, useState } from "preact/hooks";

export function useRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, "") || "devices").split("/").map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join("/")}`;
