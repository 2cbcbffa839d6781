/**
 * Every failure the plugin reports is one of these classes, with a stable `code` that scripts can
 * match on, and the exit status the hooks use for it (2 = invalid input, 1 = anything else).
 */
export class PluginError extends Error {
  readonly code: string;
  readonly exitCode: 1 | 2;
  constructor(code: string, message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Input that can never work, whatever the VM's state: the hook changes nothing and exits 2. */
export class InputError extends PluginError {
  constructor(code: string, message: string) {
    super(code, message, 2);
  }
}

/** The hot-plug operation could not be completed; the message says what state the VM is in. */
export class HotplugError extends PluginError {}

/** Ganeti's QEMU command line holds something the launcher will not pass on: the start is refused, exit 1. */
export class ArgvError extends PluginError {
  constructor(message: string) {
    super("UNSUPPORTED_ARGV", message, 1);
  }
}
