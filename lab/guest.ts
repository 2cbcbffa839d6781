import { execFileSync } from "node:child_process";
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
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

/** What the guest reads and writes per pass on each marked disk (see scripts/build-guest.mjs). */
export const IO_SAMPLE_KIB = 3072;
const MIB = 1 << 20;

/**
 * Marks a disk (an image file, or a disk's block device) for the guest's I/O measurement under
 * `name` (capitals and digits), or unmarks it (`name` undefined): the guest stops measuring it.
 */
export function markIoTest(path: string, name: string | undefined): void {
  const fd = openSync(path, "r+");
  try {
    const text = name === undefined ? "" : `IOTEST:${IO_SAMPLE_KIB}:${name}\n`;
    writeSync(fd, Buffer.concat([Buffer.from(text), Buffer.alloc(32 - text.length)]), 0, 32, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** One disk's rates in one pass, in bytes/s, as the guest reported them. */
export interface IoRates {
  wr: number;
  rd: number;
  pass: number;
  seen: Seen;
}

/** The guest's report for the disk marked `name` (in pass `pass`, or any). */
export const ioReport = (name: string, pass = "\\d+") =>
  new RegExp(`GUEST: io \\S+ disk=${name} pass=(${pass}) wr=(\\d+) rd=(\\d+)`);
export const ioRates = (seen: Seen): IoRates => ({
  pass: Number(seen.match[1]),
  wr: Number(seen.match[2]),
  rd: Number(seen.match[3]),
  seen,
});

/**
 * The rates of the disks marked `names` in one pass, the second that began after console offset
 * `from` (the first may have begun before a change). `wait` waits for a line from an offset.
 */
export async function ioPass(
  wait: (re: RegExp, from: number) => Promise<Seen>,
  names: readonly string[],
  from: number,
): Promise<IoRates[]> {
  const [lead, ...rest] = names as [string, ...string[]];
  const first = await wait(ioReport(lead), from);
  const second = ioRates(await wait(ioReport(lead), first.end));
  const others = await Promise.all(rest.map(async (n) => ioRates(await wait(ioReport(n, String(second.pass)), from))));
  return [second, ...others];
}

export const mibps = (bytes: number) => `${(bytes / MIB).toFixed(2)} MiB/s`;
/** Whether a measured rate is within 10 % of a cap. */
export const nearCap = (rate: number, cap: number) => Math.abs(rate - cap) <= cap * 0.1;
