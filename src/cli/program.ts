/**
 * How a program runs as a process: its output written without Node's stream stack, one stderr line
 * per message, Ganeti's exit convention. Parsing its arguments is args.ts's job.
 */
import { realpathSync, writeSync } from "node:fs";
import { PluginError } from "../errors.js";
import { appendLog, printable } from "../host/plugin-log.js";
import { type Args, type Flag, parseArgs, usage } from "./args.js";

/**
 * Writes all of `text` to a file descriptor. process.stdout would load Node's stream stack (and
 * net, for the pipe Ganeti gives us): several ms of start-up for a few hundred bytes.
 */
export function writeFd(fd: 1 | 2, text: string): void {
  // Strings go out in one call without a Buffer (whose first use costs start-up); only a partial
  // write (a non-blocking pipe that is full) falls back to one, for the rest.
  let written = 0;
  try {
    written = writeSync(fd, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
  }
  if (written === Buffer.byteLength(text, "utf8")) return;
  const buf = Buffer.from(text, "utf8");
  for (let off = written; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

/** One line on stderr per message; never a multi-line trace unless --debug. */
export const say = (name: string, kind: string, msg: string) => writeFd(2, `${name}: ${kind}: ${printable(msg)}\n`);

/**
 * Runs a hook body with Ganeti's exit convention: 0 done, 1 failed, 2 invalid input.
 * Errors become one line on stderr; a body may also print its own result and return 1.
 */
export function runHook(
  name: string,
  summary: string,
  flags: readonly Flag[],
  body: (args: Args) => Promise<number> | number,
): Promise<void> {
  let debug = false;
  return runMain(
    name,
    async () => {
      const args = parseArgs(process.argv.slice(2), flags);
      debug = args.has("debug");
      if (!args.has("help")) return body(args);
      writeFd(1, usage(name, summary, flags));
      return 0;
    },
    () => debug,
  );
}

/** Runs a program's body: its exit status, or one stderr line and the error's status; then exits. */
export async function runMain(
  name: string,
  body: () => Promise<number> | number,
  debug: () => boolean = () => false,
): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (e) {
    if (e instanceof PluginError) {
      say(name, `error [${e.code}]`, e.message);
      appendLog(process.env, name, `${e.exitCode === 2 ? "refused" : "failed"} [${e.code}] ${printable(e.message)}`);
      process.exitCode = e.exitCode;
    } else {
      say(name, "internal error", e instanceof Error ? e.message : String(e));
      appendLog(process.env, name, `internal error: ${printable(e instanceof Error ? e.message : String(e))}`);
      if (debug() && e instanceof Error && e.stack) writeFd(2, `${e.stack}\n`);
      process.exitCode = 1;
    }
  }
  // Output went out with writeSync and everything the body started was awaited: exiting now skips
  // Node's last event-loop turns and its teardown (~0.2 ms of every run), and no stray handle can
  // keep a hook, and Ganeti waiting on it, alive.
  process.exit();
}

/** The plugin's own directory, the same on every node: a program's bundle runs from its dist/. */
export const pluginRoot = (): string => realpathSync(`${__dirname}/..`);
