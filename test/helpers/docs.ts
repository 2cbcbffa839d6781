// The tables some suites produce for docs/ (the fault matrices). `npm test` must not rewrite tracked
// files, so a run writes them under .tap/docs/ and says where; `npm run docs:tables` (the same
// suites with GQB_WRITE_DOCS=1) writes them into docs/, to be committed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./hook.js";

/** Writes docs/<name>, or .tap/docs/<name> unless GQB_WRITE_DOCS=1; returns the path written. */
export function writeDoc(name: string, text: string): string {
  const dir = process.env["GQB_WRITE_DOCS"] === "1" ? join(ROOT, "docs") : join(ROOT, ".tap", "docs");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}
