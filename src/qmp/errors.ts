import { PluginError } from "../errors.js";

/** QEMU answered a command with an error; `qmpClass` and `desc` are QMP's own fields. */
export class QmpCommandError extends PluginError {
  readonly qmpClass: string;
  readonly desc: string;
  readonly command: string;
  constructor(command: string, qmpClass: string, desc: string) {
    super("QMP_COMMAND_FAILED", `QMP ${command} failed: ${desc} (${qmpClass})`);
    this.command = command;
    this.qmpClass = qmpClass;
    this.desc = desc;
  }
}

/** Nothing arrived in time: a command's reply, an event, or the greeting. */
export class QmpTimeoutError extends PluginError {
  constructor(message: string) {
    super("QMP_TIMEOUT", message);
  }
}

/** The socket closed (QEMU exited or dropped us); every pending call fails with this at once. */
export class QmpClosedError extends PluginError {
  constructor(message: string) {
    super("QMP_CLOSED", message);
  }
}

/** The peer is not a QMP server, or not one we can talk to. */
export class QmpProtocolError extends PluginError {
  constructor(message: string) {
    super("QMP_PROTOCOL", message);
  }
}

/** The socket could not be opened at all (no QEMU there). */
export class QmpConnectError extends PluginError {
  constructor(message: string) {
    super("QMP_CONNECT", message);
  }
}

/** QEMU's own words for a failed command, else the error's message: for one-line reports. */
export function reason(e: unknown): string {
  return e instanceof QmpCommandError ? e.desc : e instanceof Error ? e.message : String(e);
}
