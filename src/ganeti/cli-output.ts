/**
 * One list field of `gnt-instance list --separator=|`: Ganeti prints some lists comma-joined
 * (`tags`: `a,b`) and others as Python's repr (`disk.uuids`: `['u0', 'u1']`). Neither holds a
 * comma or a quote in its items (tags allow only [\w.+*\/:@-]; uuids are hex). Pure.
 */
export function listField(text: string): string[] {
  const t = text.trim();
  if (t.startsWith("[")) return [...t.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2] ?? "");
  return t.split(",").filter(Boolean);
}
