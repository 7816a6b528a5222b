// A GET on the API as page state: the answer, the error, and whether this backend has the route at all (404 on a
// route another branch adds: the page says what it waits for instead).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api.ts";

export interface Resource<T> {
  data: T | undefined;
  error: string;
  /** The backend has no such route (yet). */
  missing: boolean;
  reload(): void;
}

export function useResource<T>(path: string): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState("");
  const [missing, setMissing] = useState(false);
  const reload = () =>
    void api<T>(path).then(
      (d) => (setData(d), setError(""), setMissing(false)),
      (err) => {
        const notHere = err instanceof ApiError && err.status === 404 && err.body.error === "not_found";
        setMissing(notHere);
        if (!notHere) setError(err.message);
      },
    );
  useEffect(reload, [path]);
  return { data, error, missing, reload };
}
