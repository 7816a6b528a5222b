// The three Reflect metadata calls tsyringe (a dependency of @peculiar/x509) makes, so it loads without the
// reflect-metadata package. Metadata per (target, key), own only: tsyringe asks for constructor parameter types,
// which @peculiar/x509 never declares through decorators, so the lookups find nothing and that is the answer.
const store = new WeakMap<object, Map<unknown, unknown>>();
const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== "function") {
  const own = (key: unknown, target: object) => store.get(target)?.get(key);
  R.defineMetadata = (key: unknown, value: unknown, target: object) => {
    const m = store.get(target) ?? new Map();
    m.set(key, value);
    store.set(target, m);
  };
  R.getOwnMetadata = own;
  R.getMetadata = (key: unknown, target: object) => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) {
      const v = own(key, t);
      if (v !== undefined) return v;
    }
    return undefined;
  };
}
