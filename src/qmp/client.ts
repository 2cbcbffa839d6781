import { createConnection, type Socket } from "node:net";
import { QmpClosedError, QmpCommandError, QmpConnectError, QmpProtocolError, QmpTimeoutError } from "./errors.js";
import { type EventFilter, EventListener, type QmpEvent } from "./events.js";
import { FrameDecoder } from "./framing.js";

export interface QmpVersion {
  major: number;
  minor: number;
  micro: number;
  package: string;
}

export interface ConnectOptions {
  /** Connect + greeting + capabilities negotiation, in ms. */
  timeoutMs?: number;
  /** Default timeout of each command, in ms. */
  commandTimeoutMs?: number;
}

type Pending = { command: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
type Message = { QMP?: unknown; event?: string; id?: unknown; return?: unknown; error?: { class?: string; desc?: string } };

function isGreeting(
  msg: Message,
): msg is { QMP: { version: { qemu: { major: number; minor: number; micro: number }; package?: string } } } {
  const qemu = (msg.QMP as { version?: { qemu?: Record<string, unknown> } } | undefined)?.version?.qemu;
  return typeof qemu?.["major"] === "number" && typeof qemu["minor"] === "number" && typeof qemu["micro"] === "number";
}

/**
 * A QMP client for one Unix socket: greeting, capabilities, id-correlated commands, and event
 * listeners. It knows nothing about Ganeti. QEMU serves one client per QMP socket, so hold a
 * client only as long as an operation needs it.
 */
export class QmpClient {
  readonly path: string;
  readonly version: QmpVersion;
  private readonly socket: Socket;
  private readonly commandTimeoutMs: number;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<EventListener>();
  private nextId = 1;
  private closedWith: Error | undefined;

  private constructor(path: string, socket: Socket, version: QmpVersion, commandTimeoutMs: number) {
    this.path = path;
    this.socket = socket;
    this.version = version;
    this.commandTimeoutMs = commandTimeoutMs;
  }

  /** Whether the connection is gone (QEMU exited, dropped us, or we closed it): every call fails at once. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Connects, reads and checks the greeting, and leaves capabilities negotiation mode. */
  static async connect(path: string, opts: ConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const socket = createConnection({ path });
    const decoder = new FrameDecoder();
    let client: QmpClient | undefined;
    const early: Message[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;

    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        let msg: Message;
        try {
          msg = JSON.parse(frame) as Message;
        } catch {
          const err = new QmpProtocolError(`${path}: peer sent non-JSON: ${frame.slice(0, 80)}`);
          if (client) client.shutdown(err);
          else failure = err;
          socket.destroy();
          wake?.();
          return;
        }
        if (client) client.dispatch(msg);
        else early.push(msg);
      }
      wake?.();
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const err =
        client || e.code === "EPIPE" || e.code === "ECONNRESET"
          ? new QmpClosedError(`${path}: connection lost (${e.code ?? e.message})`)
          : new QmpConnectError(`${path}: cannot connect (${e.code ?? e.message}); is the instance running on this node?`);
      if (client) client.shutdown(err);
      else failure ??= err;
      wake?.();
    });
    socket.on("close", () => {
      const midFrame = decoder.buffered ? ` in the middle of a message (${decoder.buffered} bytes)` : "";
      const err = new QmpClosedError(`${path}: QEMU closed the connection${midFrame}`);
      if (client) client.shutdown(err);
      else failure ??= err;
      wake?.();
    });

    const deadline = Date.now() + timeoutMs;
    const nextEarly = async (what: string): Promise<Message> => {
      while (early.length === 0) {
        if (failure) throw failure;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new QmpTimeoutError(
            `${path}: no ${what} within ${timeoutMs / 1000} s (QEMU serves one QMP client at a time; is another client holding the socket?)`,
          );
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      return early.shift() as Message;
    };

    try {
      let greeting = await nextEarly("QMP greeting");
      while (greeting.event !== undefined) greeting = await nextEarly("QMP greeting");
      if (!isGreeting(greeting))
        throw new QmpProtocolError(`${path}: not a QMP greeting: ${JSON.stringify(greeting).slice(0, 120)}`);
      const v = greeting.QMP.version;
      socket.write(`${JSON.stringify({ execute: "qmp_capabilities", id: "caps" })}\n`);
      for (;;) {
        const reply = await nextEarly("reply to qmp_capabilities");
        if (reply.id !== "caps") continue;
        if (reply.error) throw new QmpCommandError("qmp_capabilities", reply.error.class ?? "?", reply.error.desc ?? "");
        break;
      }
      client = new QmpClient(path, socket, { ...v.qemu, package: v.package ?? "" }, opts.commandTimeoutMs ?? 10_000);
      for (const msg of early.splice(0)) client.dispatch(msg);
      return client;
    } catch (e) {
      socket.destroy();
      throw e;
    }
  }

  /** Sends a command and resolves with its `return`; rejects with QmpCommandError on `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = `c${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(`${this.path}: no reply to ${command} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id })}\n`);
    });
  }

  /** A listener for events matching `filter`; register it before the command that causes them. */
  listen(filter: EventFilter): EventListener {
    const l = new EventListener(filter, (x) => this.listeners.delete(x));
    if (this.closedWith) l.fail(this.closedWith);
    else this.listeners.add(l);
    return l;
  }

  close(): void {
    this.shutdown(new QmpClosedError(`${this.path}: connection closed by us`));
    this.socket.destroy();
  }

  private dispatch(msg: Message): void {
    if (typeof msg.event === "string") {
      for (const l of this.listeners) l.deliver(msg as QmpEvent);
      return;
    }
    if (typeof msg.id !== "string") return; // replies to nothing we sent (the spec says: drop them)
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new QmpCommandError(p.command, msg.error.class ?? "GenericError", msg.error.desc ?? ""));
    else p.resolve(msg.return);
  }

  private shutdown(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const l of this.listeners) l.fail(err);
    this.listeners.clear();
  }
}
