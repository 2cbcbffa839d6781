import { closeSync, openSync, writeSync } from "node:fs";
import { DEFAULT_LOG_PATH, LOG_PATH_VARIABLE } from "./plugin-files.js";

/**
 * The plugin's own log, for what must outlive a call whose output nobody reads: Ganeti discards
 * the output of a QEMU start that succeeds, and QEMU truncates its own log (-D) when it starts.
 * GANETI_QEMU_BLOCKDEV_LOG names another file (tests).
 */
export const logPath = (env: Readonly<Record<string, string | undefined>>): string => env[LOG_PATH_VARIABLE] || DEFAULT_LOG_PATH;

/**
 * A message as one printable line: newlines (with the space around them) become one space, and
 * every other control character (C0, DEL, C1: an ESC sequence from hostile input would otherwise
 * reach an operator's terminal, or forge a line) is shown escaped.
 */
export const printable = (msg: string) =>
  msg
    .replace(/\s*\n\s*/g, " ")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/**
 * A time as toISOString() writes it (UTC, ms). Made from the UTC getters: the first toISOString()
 * of a process costs ~0.85 ms, the getters ~0.02 ms, and a hook writes one line per action.
 */
export function isoTime(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}

/**
 * Appends one line, in one write(2) to a file opened O_APPEND (lines of concurrent hooks never
 * interleave); a log that cannot be written costs the record, never the operation.
 */
export function appendLog(env: Readonly<Record<string, string | undefined>>, program: string, line: string): void {
  try {
    const fd = openSync(logPath(env), "a");
    try {
      writeSync(fd, `${isoTime(new Date())} ${program}[${process.pid}]: ${printable(line)}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // stderr has it
  }
}
