// The floors of the hot-plug figures: what QEMU and Node cost before any of the hook's own work.
// A hook's QMP commands are recorded once through a proxy; bench/floor-client.cjs then sends the
// same commands from a bare Node process, interleaved with the hooks in the same loop.
import { writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";

export interface Command {
  execute: string;
  arguments?: Record<string, unknown>;
}

/** The floor client, next to this file in the source tree (the bench runs from dist/bench.cjs). */
export const floorClient = (root: string) => join(root, "bench/floor-client.cjs");

/**
 * Runs `fn` with a proxy listening at `listenPath` in front of QEMU's socket `qemuPath`, and
 * returns the commands that went through it (capabilities left out: the client sends its own).
 */
export async function recordCommands(qemuPath: string, listenPath: string, fn: () => Promise<unknown>): Promise<Command[]> {
  const seen: Command[] = [];
  const server = createServer((client) => {
    const qemu = createConnection(qemuPath);
    let buf = "";
    client.on("data", (b: Buffer) => {
      qemu.write(b);
      buf += b.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, nl)) as Command & { id?: string };
        buf = buf.slice(nl + 1);
        if (msg.execute !== "qmp_capabilities") {
          seen.push(msg.arguments ? { execute: msg.execute, arguments: msg.arguments } : { execute: msg.execute });
        }
      }
    });
    qemu.on("data", (b: Buffer) => client.write(b));
    const cut = () => {
      client.destroy();
      qemu.destroy();
    };
    for (const s of [client, qemu]) {
      s.on("close", cut);
      s.on("error", cut);
    }
  });
  await new Promise<void>((r) => server.listen(listenPath, r));
  try {
    await fn();
  } finally {
    server.close();
  }
  return seen;
}

/** Writes a recorded command list for the floor client; returns its path. */
export function commandsFile(dir: string, name: string, commands: Command[]): string {
  const path = join(dir, `floor-${name}.json`);
  writeFileSync(path, JSON.stringify(commands));
  return path;
}
