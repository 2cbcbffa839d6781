// A scripted QMP server: the fast floor under the hot-plug contract (test/hotplug-driver.unit.test.ts),
// as qemu.qmp's NullProtocol is under its real protocols. It greets, negotiates, and answers each
// command from a script of canned replies and events. The real-QEMU suites stay the proof; this is
// for the edit loop, and for what QEMU cannot be made to answer.
import { createServer, type Server, type Socket } from "node:net";
import type { Test } from "tap";

/** What the fake does with one command: a return, an error, events after it, no reply, or a cut. */
export type Reply =
  | { return: unknown; events?: { event: string; data: Record<string, unknown> }[] }
  | { error: { class: string; desc: string } }
  | "no reply"
  | "drop";

/** Replies by command name: a fixed one, or one per call (`n` counts from 1). */
export type Script = Record<string, Reply | ((args: Record<string, unknown> | undefined, n: number) => Reply)>;

export interface Received {
  execute: string;
  arguments?: Record<string, unknown>;
}

export class QmpFake {
  readonly received: Received[] = [];
  connections = 0;
  private readonly server: Server;
  private readonly calls = new Map<string, number>();
  private readonly script: Script;
  private readonly open = new Set<Socket>();

  private constructor(script: Script) {
    this.script = script;
    this.server = createServer((s) => this.serve(s));
  }

  /** Listens at `path` until the test ends. */
  static async listen(t: Test, path: string, script: Script): Promise<QmpFake> {
    const fake = new QmpFake(script);
    await new Promise<void>((r) => fake.server.listen(path, r));
    t.teardown(() => fake.close());
    return fake;
  }

  /** The commands received, by name, capabilities left out. */
  get commands(): string[] {
    return this.received.map((r) => r.execute).filter((c) => c !== "qmp_capabilities");
  }

  close(): void {
    for (const s of this.open) s.destroy();
    this.server.close();
  }

  private serve(sock: Socket): void {
    this.connections++;
    this.open.add(sock);
    sock.on("close", () => this.open.delete(sock));
    sock.on("error", () => {});
    const send = (msg: unknown) => sock.write(`${JSON.stringify(msg)}\n`);
    send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "fake" }, capabilities: [] } });
    let buf = "";
    sock.on("data", (b: Buffer) => {
      buf += b.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, nl)) as Received & { id?: string };
        buf = buf.slice(nl + 1);
        this.received.push(msg.arguments ? { execute: msg.execute, arguments: msg.arguments } : { execute: msg.execute });
        const reply = this.reply(msg);
        if (reply === "drop") {
          sock.destroy();
          return;
        }
        if (reply === "no reply") continue;
        if ("error" in reply) send({ error: reply.error, id: msg.id });
        else {
          send({ return: reply.return, id: msg.id });
          const now = Date.now();
          for (const e of reply.events ?? []) {
            send({ ...e, timestamp: { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 } });
          }
        }
      }
    });
  }

  private reply(msg: Received): Exclude<Reply, (...a: never[]) => unknown> {
    if (msg.execute === "qmp_capabilities") return { return: {} };
    const n = (this.calls.get(msg.execute) ?? 0) + 1;
    this.calls.set(msg.execute, n);
    const r = this.script[msg.execute];
    if (r === undefined) return { error: { class: "CommandNotFound", desc: `The command ${msg.execute} has not been found` } };
    return typeof r === "function" ? r(msg.arguments, n) : r;
  }
}
