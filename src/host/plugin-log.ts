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

/** Appends one line; a log that cannot be written costs the record, never the operation. */
export function appendLog(env: Readonly<Record<string, string | undefined>>, program: string, line: string): void {
  try {
    appendFileSync(logPath(env), `${new Date().toISOString()} ${program}[${process.pid}]: ${line.replaceAll("\n", " ")}\n`);
  } catch {
    // stderr has it
  }
}
