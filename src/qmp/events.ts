import { QmpClosedError, QmpTimeoutError } from "./errors.js";

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** Which events a listener wants: names, and data fields that must be equal (e.g. data.device). */
export interface EventFilter {
  names: readonly string[];
  data?: Readonly<Record<string, unknown>>;
}

export function matches(filter: EventFilter, ev: QmpEvent): boolean {
  if (!filter.names.includes(ev.event)) return false;
  for (const [k, v] of Object.entries(filter.data ?? {})) if (ev.data?.[k] !== v) return false;
  return true;
}

/**
 * A filtered FIFO of events (the qemu.qmp design). Register it *before* the command that causes
 * the event: QEMU may send the event before the command's reply, and nothing is lost either way.
 */
export class EventListener {
  private readonly queue: QmpEvent[] = [];
  private waiter: { resolve: (e: QmpEvent) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private closedWith: Error | undefined;
  readonly filter: EventFilter;
  private readonly detach: (l: EventListener) => void;

  constructor(filter: EventFilter, detach: (l: EventListener) => void) {
    this.filter = filter;
    this.detach = detach;
  }

  /** Called by the client for every event; keeps only matching ones. */
  deliver(ev: QmpEvent): void {
    if (!matches(this.filter, ev)) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.resolve(ev);
    } else {
      this.queue.push(ev);
    }
  }

  /** Fails a pending and every later wait: the connection is gone. */
  fail(err: Error): void {
    this.closedWith = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** The next matching event, oldest first; rejects with QmpTimeoutError after `timeoutMs`. */
  next(timeoutMs: number): Promise<QmpEvent> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.waiter) return Promise.reject(new Error("EventListener.next: a wait is already pending"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new QmpTimeoutError(`no ${this.filter.names.join("/")} event within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  close(): void {
    this.fail(new QmpClosedError("listener closed"));
    this.detach(this);
  }
}
