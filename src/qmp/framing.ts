/**
 * QMP frames are JSON objects ending in CRLF. A read may hold part of a frame or several frames;
 * replies such as query-qmp-schema run past 100 KB. Chunks are kept as they come and joined only
 * when a frame ends, so a big reply is not re-scanned or re-copied on every read.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];

  /** Feeds bytes; returns the complete frames they finish, in order. */
  push(chunk: Buffer): string[] {
    const frames: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const tail = chunk.subarray(start, nl);
      const line = this.pending.length ? Buffer.concat([...this.pending, tail]) : tail;
      this.pending = [];
      const text = line.toString("utf8").trim();
      if (text !== "") frames.push(text);
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    return frames;
  }

  /** Bytes of an unfinished frame (a connection that drops here dropped mid-message). */
  get buffered(): number {
    return this.pending.reduce((n, b) => n + b.length, 0);
  }
}
