/**
 * A Node built-in module, loaded only when first needed: a hook that never checks a URL never
 * loads node:https (start-up time, measured in bench/README.md). Node 20.16+ has
 * process.getBuiltinModule; Debian 12's Node 18 has not, and there the bundle's own `require`
 * loads it (the bundles are CommonJS).
 */
export function builtin<T>(name: `node:${string}`): T {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return (get ? get(name) : require(name)) as T;
}
