import { readFileSync } from "node:fs";
import { PluginError } from "../errors.js";
import type { StartThrottles } from "../launcher/start-throttles.js";
import { QmpClient } from "../qmp/client.js";
import { applyThrottles } from "../qos/running.js";

/** How long the launcher waits for QEMU's QMP at start (it is there once QEMU daemonized). */
const QMP_TIMEOUT_MS = 10_000;

/** Kills the QEMU a failed start left paused (by its pid file: it daemonized, so it is not our child). */
function killPaused(pidfile: string | undefined): string {
  if (!pidfile) return "QEMU was left paused (no -pidfile to find it by)";
  try {
    const pid = Number(readFileSync(pidfile, "utf8").trim());
    if (pid > 1) process.kill(pid, "SIGKILL");
    return `the paused QEMU (pid ${pid}) was killed`;
  } catch (e) {
    return `the paused QEMU could not be killed: ${(e as Error).message}`;
  }
}

/**
 * Sets a freshly started QEMU's I/O limits: one block_set_io_throttle per limited disk, sent
 * together on one connection. The lines of what was set; a failure kills the paused QEMU.
 */
export async function applyQemuThrottles(t: StartThrottles, instance: string): Promise<string[]> {
  let qmp: QmpClient | undefined;
  try {
    qmp = await QmpClient.connect(t.qmp, { timeoutMs: QMP_TIMEOUT_MS, commandTimeoutMs: QMP_TIMEOUT_MS });
    return await applyThrottles(qmp, t.targets);
  } catch (e) {
    throw new PluginError(
      "QOS_NOT_APPLIED",
      `${instance}: the I/O limits of its disk-qos tags could not be set (${(e as Error).message}); ${killPaused(t.pidfile)}`,
    );
  } finally {
    qmp?.close();
  }
}
