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
 * A connection while its session is being set up: the socket's messages are queued for the
 * greeting and the negotiation to read in order, and a failure (a closed socket, non-JSON) is kept
 * for the next read. Once the session is set up, `handOver` passes the queue and everything after
 * it to the client.
 */
class Handshake {
  readonly path: string;
  readonly socket: Socket;
  private readonly timeoutMs: number;
  private readonly deadline: number;
  private readonly queue: Message[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private deliver: ((msg: Message) => void) | undefined;
  private fail: ((err: Error) => void) | undefined;

  constructor(path: string, socket: Socket, timeoutMs: number) {
    this.path = path;
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.deadline = Date.now() + timeoutMs;
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        let msg: Message;
        try {
          msg = JSON.parse(frame) as Message;
        } catch {
          this.lost(new QmpProtocolError(`${path}: peer sent non-JSON: ${frame.slice(0, 80)}`));
          socket.destroy();
          return;
        }
        if (this.deliver) this.deliver(msg);
        else this.queue.push(msg);
      }
      this.wake?.();
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const dropped = this.deliver !== undefined || e.code === "EPIPE" || e.code === "ECONNRESET";
      this.lost(
        dropped
          ? new QmpClosedError(`${path}: connection lost (${e.code ?? e.message})`)
          : new QmpConnectError(`${path}: cannot connect (${e.code ?? e.message}); is the instance running on this node?`),
      );
    });
    socket.on("close", () => {
      const midFrame = decoder.buffered ? ` in the middle of a message (${decoder.buffered} bytes)` : "";
      this.lost(new QmpClosedError(`${path}: QEMU closed the connection${midFrame}`));
    });
  }

  /** The next message, within the set-up's deadline; `what` names it in the timeout's message. */
  async next(what: string): Promise<Message> {
    while (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      const left = this.deadline - Date.now();
      if (left <= 0) {
        throw new QmpTimeoutError(
          `${this.path}: no ${what} within ${this.timeoutMs / 1000} s (QEMU serves one QMP client at a time; is another client holding the socket?)`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.queue.shift() as Message;
  }

  send(msg: Record<string, unknown>): void {
    this.socket.write(`${JSON.stringify(msg)}\n`);
  }

  /** From now on every message goes to `deliver` (the queued ones first), every failure to `fail`. */
  handOver(deliver: (msg: Message) => void, fail: (err: Error) => void): void {
    this.deliver = deliver;
    this.fail = fail;
    for (const msg of this.queue.splice(0)) deliver(msg);
  }

  private lost(err: Error): void {
    if (this.fail) this.fail(err);
    else this.failure ??= err;
    this.wake?.();
  }
}

/** Step 1: the greeting, QEMU's first message (events before it are skipped), with its version. */
async function readGreeting(conn: Handshake): Promise<QmpVersion> {
  let greeting = await conn.next("QMP greeting");
  while (greeting.event !== undefined) greeting = await conn.next("QMP greeting");
  if (!isGreeting(greeting))
    throw new QmpProtocolError(`${conn.path}: not a QMP greeting: ${JSON.stringify(greeting).slice(0, 120)}`);
  const v = greeting.QMP.version;
  return { ...v.qemu, package: v.package ?? "" };
}

/**
 * Step 2: leaves capabilities negotiation mode (`qmp_capabilities`, no capabilities asked for).
 * What comes before its reply is skipped: no listener can be registered before the session is.
 */
async function negotiate(conn: Handshake): Promise<void> {
  conn.send({ execute: "qmp_capabilities", id: "caps" });
  for (;;) {
    const reply = await conn.next("reply to qmp_capabilities");
    if (reply.id !== "caps") continue;
    if (reply.error) throw new QmpCommandError("qmp_capabilities", reply.error.class ?? "?", reply.error.desc ?? "");
    return;
  }
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

  /**
   * Connects, then sets the session up as QMP specifies, in two steps, both within `timeoutMs`:
   * the greeting (QEMU's version), then the capabilities negotiation.
   */
  static async connect(path: string, opts: ConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const conn = new Handshake(path, createConnection({ path }), timeoutMs);
    try {
      const version = await readGreeting(conn);
      await negotiate(conn);
      const client = new QmpClient(path, conn.socket, version, opts.commandTimeoutMs ?? 10_000);
      conn.handOver(
        (msg) => client.dispatch(msg),
        (err) => client.shutdown(err),
      );
      return client;
    } catch (e) {
      conn.socket.destroy();
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
