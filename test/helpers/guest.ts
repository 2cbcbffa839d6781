import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./hook.js";

/** Builds (once, cached in .cache/guest) and returns the tiny Linux guest. */
export function guestFiles(): { kernel: string; initrd: string } {
  const dir = execFileSync("node", [join(ROOT, "scripts/build-guest.mjs")], { encoding: "utf8" }).trim();
  return { kernel: join(dir, "vmlinux"), initrd: join(dir, "initrd.gz") };
}

/** Waits until the guest console shows a line matching `re`; returns the match and when it was seen. */
export async function waitConsole(
  file: string,
  re: RegExp,
  timeoutMs: number,
  from = 0,
): Promise<{ match: RegExpExecArray; at: number; end: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, "utf8").slice(from) : "";
    const match = re.exec(text);
    if (match) return { match, at: performance.now(), end: from + match.index + match[0].length };
    if (Date.now() > deadline)
      throw new Error(`guest console never showed ${re} within ${timeoutMs} ms; it shows: ${text.slice(-400)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
