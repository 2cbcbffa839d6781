import { appendFileSync } from "node:fs";

/**
 * The plugin's own log, for what must outlive a call whose output nobody reads: Ganeti discards
 * the output of a QEMU start that succeeds, and QEMU truncates its own log (-D) when it starts.
 * /var/log/ganeti/*.log is rotated by Ganeti's logrotate. GANETI_QEMU_BLOCKDEV_LOG names another
 * file (tests).
 */
export const DEFAULT_LOG_PATH = "/var/log/ganeti/qemu-blockdev.log";
export const LOG_PATH_VARIABLE = "GANETI_QEMU_BLOCKDEV_LOG";

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

/** Appends one line; a log that cannot be written costs the record, never the operation. */
export function appendLog(env: Readonly<Record<string, string | undefined>>, program: string, line: string): void {
  try {
    appendFileSync(logPath(env), `${new Date().toISOString()} ${program}[${process.pid}]: ${printable(line)}\n`);
  } catch {
    // stderr has it
  }
}
