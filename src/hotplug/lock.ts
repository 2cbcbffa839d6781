import { createServer } from "node:net";
import { HotplugError } from "../errors.js";
import { shortHash } from "../util/hash.js";

/**
 * Serialises our hooks per instance. The lock is a listening socket in Linux's abstract namespace:
 * binding is atomic, and the kernel releases it when the holder exits, even on SIGKILL, so there
 * is never a stale lock file to clean up after a crash.
 */
export async function lockInstance(instance: string, timeoutMs: number): Promise<() => void> {
  const name = `\0ganeti-qemu-blockdev/${shortHash(instance)}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server = createServer();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once("error", resolve);
      server.listen(name, () => resolve(undefined));
    });
    if (!err) {
      server.unref();
      return () => server.close();
    }
    if (err.code !== "EADDRINUSE") throw new HotplugError("LOCK_FAILED", `cannot take the lock of ${instance}: ${err.message}`);
    if (Date.now() >= deadline) {
      throw new HotplugError(
        "LOCK_TIMEOUT",
        `another hook held ${instance}'s lock for more than ${timeoutMs / 1000} s; nothing was changed`,
      );
    }
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
  }
}
