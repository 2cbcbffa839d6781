import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./root.js";

let guestDir: string | undefined;

/** Builds (once, cached in .cache/guest) and returns the tiny Linux guest. */
export function guestFiles(): { kernel: string; initrd: string } {
  guestDir ??= execFileSync("node", [join(ROOT, "scripts/build-guest.mjs")], { encoding: "utf8" }).trim();
  return { kernel: join(guestDir, "vmlinux"), initrd: join(guestDir, "initrd.gz") };
}

/**
 * The guest's kernel, as the Debian package it came from names it. Debian moves that kernel, so a
 * suite prints it once and every failed wait repeats it: a red run names the kernel that made it.
 */
export function guestKernel(): string {
  guestFiles();
  const dir = guestDir ?? "";
  const stamp = readdirSync(dir).find((f) => f.startsWith("ready-v"));
  return stamp ? readFileSync(join(dir, stamp), "utf8").trim() : "unknown";
}

/** Where a wait found its line: the match, and the offset just past that line in the console text. */
export interface Seen {
  match: RegExpExecArray;
  end: number;
}

/**
 * What the guest is expected to report. `re` finds the line; with `expected`, its named group
 * `state` is a state: the wait ends when the guest reports `expected`, an empty state ("not yet",
 * such as a tray open in the middle of a change) lets it go on, and so does `previous`, the state
 * before the change (the guest may report it until it notices); any other state fails at once.
 */
export interface Expect {
  re: RegExp;
  expected?: string;
  previous?: string;
}

class WrongState extends Error {}

/**
 * The first complete line at or after `from` that `re` matches. A line the guest is still writing
 * (no newline yet) is not looked at: a half-written `data=HELLO-FROM-H` is not an answer.
 */
export function findLine(text: string, from: number, want: Expect): Seen | undefined {
  let at = from;
  for (;;) {
    const nl = text.indexOf("\n", at);
    if (nl < 0) return undefined;
    const line = text.slice(at, nl).replace(/\r$/, "");
    const match = want.re.exec(line);
    at = nl + 1;
    if (!match) continue;
    if (want.expected === undefined) return { match, end: at };
    const state = match.groups?.["state"] ?? "";
    if (state === want.expected) return { match, end: at };
    if (state !== "" && state !== want.previous)
      throw new WrongState(`the guest reported ${JSON.stringify(line)}, not ${JSON.stringify(want.expected)}`);
  }
}

/** The failure message of a wait: what was wanted, which guest kernel, and what the console shows. */
function failure(what: string, text: string, from: number): Error {
  const shown = text.slice(from);
  return new Error(
    `${what} (guest kernel ${guestDir === undefined ? "not built by this process" : guestKernel()}); the console since the wait began:\n${shown.length > 3000 ? `…${shown.slice(-3000)}` : shown}`,
  );
}

/**
 * Waits, within a deadline, for the console (read again by `read`) to show the expected line or
 * state; a wrong state or the deadline fails with the console's text.
 */
export async function waitLine(read: () => string, want: Expect, timeoutMs: number, from = 0): Promise<Seen> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = read();
    try {
      const seen = findLine(text, from, want);
      if (seen) return seen;
    } catch (e) {
      if (e instanceof WrongState) throw failure(e.message, text, from);
      throw e;
    }
    if (Date.now() > deadline) {
      const what = want.expected === undefined ? `${want.re}` : `${want.re} with state ${JSON.stringify(want.expected)}`;
      throw failure(`the guest never printed ${what} within ${timeoutMs / 1000} s`, text, from);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the guest console file shows a complete line matching `re` (see `waitLine`). */
export function waitConsole(file: string, re: RegExp | Expect, timeoutMs: number, from = 0): Promise<Seen> {
  const read = () => (existsSync(file) ? readFileSync(file, "latin1") : "");
  return waitLine(read, re instanceof RegExp ? { re } : re, timeoutMs, from);
}
