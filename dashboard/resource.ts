// A GET on the API as page state: the answer, the error (a 403 names the scope the session's key lacks), a reload.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";

export interface Resource<T> {
  data: T | undefined;
  error: string;
  reload(): void;
}

export function useResource<T>(path: string): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState("");
  const reload = () =>
    void api<T>(path).then(
      (d) => (setData(d), setError("")),
      (err) => setError(err.message),
    );
  useEffect(reload, [path]);
  return { data, error, reload };
}
