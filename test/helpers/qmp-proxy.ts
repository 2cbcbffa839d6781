import { mkdirSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Test } from "tap";
import { INSTANCE, type Instance } from "./instance.js";

/** What the proxy does to one command: QEMU cannot be made to fail at a chosen step, so the proxy does. */
export type Fault = "error" | "no reply" | "dropped connection" | "QEMU killed" | "unexpected reply";
/** The fault matrix's columns. ("unexpected reply", a return QEMU never gives, is for single cases.) */
export const FAULTS: readonly Fault[] = ["error", "no reply", "dropped connection", "QEMU killed"];

/** One QMP command of a hook run: its name and which occurrence of that name it is (from 1). */
export interface Step {
  command: string;
  nth: number;
}
export const stepName = (s: Step) => (s.nth > 1 ? `${s.command} #${s.nth}` : s.command);

/**
 * A QMP proxy between a hook and a real QEMU: it listens where the hook looks for the instance's
 * socket, opens QEMU's own socket for each connection, passes both directions through, and records
 * every command. With a fault set, it answers the chosen step itself (an error, or a reply QEMU
 * never gives), swallows it (no reply), cuts both connections, or has QEMU killed, instead of
 * passing it on.
 */
export class QmpProxy {
  readonly steps: Step[] = [];
  /** Every command as the hook sent it, with its arguments. */
  readonly sent: { execute: string; arguments?: Record<string, unknown> }[] = [];
  /** How many connections clients opened through the proxy. */
  connections = 0;
  /** The steps whose reply (a return or an error) QEMU sent and the proxy passed on to the hook. */
  readonly answered: Step[] = [];
  /** The step of each command id in flight, to know what a reply answers. */
  private readonly inFlight = new Map<string, Step>();
  private server: Server | undefined;
  private fault: { step: Step; fault: Fault; kill: () => Promise<void> } | undefined;
  private readonly open = new Set<Socket>();
  private first: { step: Step; fn: () => Promise<void> } | undefined;

  readonly listenPath: string;
  readonly qemuPath: string;
  constructor(listenPath: string, qemuPath: string) {
    this.listenPath = listenPath;
    this.qemuPath = qemuPath;
  }

  async start(t: Test): Promise<void> {
    this.server = createServer((client) => this.connection(client));
    await new Promise<void>((r) => this.server?.listen(this.listenPath, r));
    t.teardown(() => this.stop());
  }

  inject(step: Step, fault: Fault, kill: () => Promise<void>): void {
    this.fault = { step, fault, kill };
  }

  /** Runs `fn` when the step arrives, then passes the step on: something else happens first. */
  before(step: Step, fn: () => Promise<void>): void {
    this.first = { step, fn };
  }

  stop(): void {
    for (const s of this.open) s.destroy();
    this.server?.close();
  }

  private connection(client: Socket): void {
    this.connections++;
    const qemu = createConnection(this.qemuPath);
    this.open.add(client);
    this.open.add(qemu);
    const cut = () => {
      client.destroy();
      qemu.destroy();
    };
    client.on("close", cut);
    qemu.on("close", cut);
    client.on("error", cut);
    qemu.on("error", cut);
    let replies = "";
    qemu.on("data", (b: Buffer) => {
      client.write(b);
      replies += b.toString();
      for (let nl = replies.indexOf("\n"); nl >= 0; nl = replies.indexOf("\n")) {
        this.reply(replies.slice(0, nl));
        replies = replies.slice(nl + 1);
      }
    });
    let buf = "";
    client.on("data", (b: Buffer) => {
      buf += b.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl + 1);
        buf = buf.slice(nl + 1);
        void this.command(line, client, qemu, cut);
      }
    });
  }

  /** Records which step a line from QEMU answers (events and the greeting answer none). */
  private reply(line: string): void {
    try {
      const msg = JSON.parse(line) as { id?: unknown; return?: unknown; error?: unknown };
      const step = this.inFlight.get(JSON.stringify(msg.id));
      if (step && ("return" in msg || "error" in msg)) {
        this.inFlight.delete(JSON.stringify(msg.id));
        this.answered.push(step);
      }
    } catch {
      // Not JSON: nothing to record.
    }
  }

  private async command(line: string, client: Socket, qemu: Socket, cut: () => void): Promise<void> {
    let msg: { execute?: string; id?: unknown; arguments?: Record<string, unknown> };
    try {
      msg = JSON.parse(line) as { execute?: string; id?: unknown; arguments?: Record<string, unknown> };
    } catch {
      qemu.write(line);
      return;
    }
    const command = msg.execute ?? "?";
    this.sent.push(msg.arguments ? { execute: command, arguments: msg.arguments } : { execute: command });
    const step = { command, nth: this.steps.filter((s) => s.command === command).length + 1 };
    this.steps.push(step);
    if (msg.id !== undefined) this.inFlight.set(JSON.stringify(msg.id), step);
    const first = this.first;
    if (first && first.step.command === step.command && first.step.nth === step.nth) {
      this.first = undefined;
      await first.fn();
    }
    const f = this.fault;
    if (!f || f.step.command !== step.command || f.step.nth !== step.nth) {
      qemu.write(line);
      return;
    }
    this.fault = undefined;
    switch (f.fault) {
      case "error":
        client.write(
          `${JSON.stringify({ error: { class: "GenericError", desc: "fault injected by the test proxy" }, id: msg.id })}\n`,
        );
        return;
      case "no reply":
        return;
      case "unexpected reply":
        // A number where QEMU returns an object or a list: the hook's own code then fails in a way
        // no QMP error describes (a TypeError), as a bug of ours would.
        client.write(`${JSON.stringify({ return: 42, id: msg.id })}\n`);
        return;
      case "dropped connection":
        cut();
        return;
      case "QEMU killed":
        await f.kill();
        return;
    }
  }
}

/**
 * A started proxy in front of an instance's QMP socket, in a directory of its own: a hook given
 * `--qmp-dir <dir>` talks to QEMU through it. Stopped at the test's end.
 */
export async function proxyFor(t: Test, inst: Instance): Promise<{ proxy: QmpProxy; dir: string }> {
  const dir = join(inst.base, "proxy");
  mkdirSync(dir);
  const proxy = new QmpProxy(join(dir, `${INSTANCE}.qmp`), inst.vm.hookSocket);
  await proxy.start(t);
  return { proxy, dir };
}
