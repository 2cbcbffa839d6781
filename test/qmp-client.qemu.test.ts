// The QMP client against a small fake server, for what QEMU cannot be made to do on purpose
// (split frames, a drop mid-reply, a wrong greeting), and against a real QEMU for the rest.
import { execFileSync } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import t, { type Test } from "tap";
import { QmpClient } from "../src/qmp/client.js";
import { QmpClosedError, QmpCommandError, QmpConnectError, QmpProtocolError, QmpTimeoutError } from "../src/qmp/errors.js";
import { FrameDecoder } from "../src/qmp/framing.js";
import { schemaFacts } from "../src/qmp/schema.js";
import { QEMU, startVm, untilServed } from "./helpers/qemu.js";
import { tempDir } from "./helpers/tmp.js";

const GREETING = `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "fake" }, capabilities: [] } })}\r\n`;
const line = (o: unknown) => `${JSON.stringify(o)}\r\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake QMP server: `onCommand` answers each command (after qmp_capabilities) as the test likes. */
async function fakeServer(
  t: Test,
  opts: {
    greeting?: (s: Socket) => Promise<void> | void;
    onCommand?: (s: Socket, cmd: { execute: string; id: string; arguments?: unknown }) => void;
  },
): Promise<string> {
  const path = join(tempDir(t), "fake.qmp");
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    const decoder = new FrameDecoder();
    void (async () => {
      if (opts.greeting) await opts.greeting(s);
      else s.write(GREETING);
    })();
    s.on("data", (chunk) => {
      for (const frame of decoder.push(chunk)) {
        const cmd = JSON.parse(frame);
        if (cmd.execute === "qmp_capabilities") s.write(line({ return: {}, id: cmd.id }));
        else opts.onCommand?.(s, cmd);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return path;
}

t.test("frames split across reads, byte by byte", async (t) => {
  const path = await fakeServer(t, {
    greeting: async (s) => {
      for (const part of [GREETING.slice(0, 5), GREETING.slice(5, 40), GREETING.slice(40)]) {
        s.write(part);
        await sleep(5);
      }
    },
    onCommand: async (s, cmd) => {
      for (const ch of line({ return: { echoed: cmd.arguments }, id: cmd.id })) {
        s.write(ch);
        await sleep(0);
      }
    },
  });
  const q = await QmpClient.connect(path);
  t.teardown(() => q.close());
  t.same(q.version, { major: 7, minor: 2, micro: 22, package: "fake" }, "version from the greeting");
  t.same(await q.execute("echo", { a: 'ü,="' }), { echoed: { a: 'ü,="' } }, "reply reassembled");
});

t.test("several frames in one read; an event before its command's reply is not lost", async (t) => {
  const path = await fakeServer(t, {
    onCommand: (s, cmd) => {
      s.write(
        line({ event: "DEVICE_DELETED", data: { path: "/machine/peripheral/d1/virtio-backend" } }) +
          line({ event: "DEVICE_DELETED", data: { device: "other", path: "/machine/peripheral/other" } }) +
          line({ event: "DEVICE_DELETED", data: { device: "d1", path: "/machine/peripheral/d1" } }) +
          line({ return: {}, id: "not-ours" }) +
          line({ return: {}, id: cmd.id }),
      );
    },
  });
  const q = await QmpClient.connect(path);
  t.teardown(() => q.close());
  const events = q.listen({ names: ["DEVICE_DELETED"], data: { device: "d1" } });
  await q.execute("device_del", { id: "d1" });
  const ev = await events.next(1000);
  t.same(ev.data, { device: "d1", path: "/machine/peripheral/d1" }, "only our device's event, not the backend's or another's");
  await t.rejects(events.next(50), QmpTimeoutError, "nothing else queued");
});

t.test("a reply over 100 KB", async (t) => {
  const big = Array.from({ length: 4000 }, (_, i) => ({ name: `command-${i}`, meta: "x".repeat(40) }));
  const path = await fakeServer(t, { onCommand: (s, cmd) => s.write(line({ return: big, id: cmd.id })) });
  const q = await QmpClient.connect(path);
  t.teardown(() => q.close());
  const got = await q.execute<typeof big>("query-commands");
  t.ok(JSON.stringify(got).length > 100_000, "more than 100 KB");
  t.same(got, big);
});

t.test("a connection dropped in the middle of a reply fails every pending call at once", async (t) => {
  const path = await fakeServer(t, {
    onCommand: (s, cmd) => {
      if (cmd.execute === "slow") return;
      s.write(line({ return: {}, id: cmd.id }).slice(0, 10));
      setTimeout(() => s.destroy(), 20);
    },
  });
  const q = await QmpClient.connect(path);
  t.notOk(q.closed, "open");
  const events = q.listen({ names: ["DEVICE_DELETED"] });
  const waiting = events.next(5000);
  const slow = q.execute("slow", undefined, 5000);
  const started = Date.now();
  await t.rejects(q.execute("half"), { code: "QMP_CLOSED", message: /in the middle of a message/ });
  await t.rejects(slow, QmpClosedError, "the other pending command fails too");
  await t.rejects(waiting, QmpClosedError, "and the event wait");
  t.ok(Date.now() - started < 1000, "at once, not after a timeout");
  await t.rejects(q.execute("after"), QmpClosedError, "later calls fail straight away");
  t.ok(q.closed, "and the client says it is closed");
});

t.test("a wrong greeting is refused clearly", async (t) => {
  const wrong = await fakeServer(t, { greeting: (s) => void s.write(line({ hello: "world" })) });
  await t.rejects(QmpClient.connect(wrong), QmpProtocolError, "JSON but not QMP");
  const garbage = await fakeServer(t, { greeting: (s) => void s.write("SSH-2.0-OpenSSH\r\n") });
  await t.rejects(QmpClient.connect(garbage), { code: "QMP_PROTOCOL", message: /non-JSON/ });
});

t.test("timeouts: greeting, command", async (t) => {
  const silent = await fakeServer(t, { greeting: () => {} });
  await t.rejects(QmpClient.connect(silent, { timeoutMs: 200 }), { code: "QMP_TIMEOUT", message: /another client/ });
  const path = await fakeServer(t, { onCommand: () => {} });
  const q = await QmpClient.connect(path, { commandTimeoutMs: 100 });
  t.teardown(() => q.close());
  await t.rejects(q.execute("never"), { code: "QMP_TIMEOUT", message: /no reply to never/ });
});

t.test("error replies become typed errors with QMP's class and desc", async (t) => {
  const path = await fakeServer(t, {
    onCommand: (s, cmd) => s.write(line({ error: { class: "DeviceNotFound", desc: "Device 'x' not found" }, id: cmd.id })),
  });
  const q = await QmpClient.connect(path);
  t.teardown(() => q.close());
  const err = await q.execute("device_del", { id: "x" }).catch((e: unknown) => e);
  t.type(err, QmpCommandError);
  t.match(err, { qmpClass: "DeviceNotFound", desc: "Device 'x' not found", code: "QMP_COMMAND_FAILED" });
});

t.test("no socket: a clear connect error", async (t) => {
  await t.rejects(QmpClient.connect(join(tempDir(t), "none.qmp")), QmpConnectError);
});

t.test("real QEMU: a 100 KB+ schema reply, and one client per socket", async (t) => {
  const dir = tempDir(t);
  const vm = await startVm(t, dir, "real", []);
  const first = await QmpClient.connect(vm.hookSocket);
  const schema = await first.execute<unknown[]>("query-qmp-schema");
  t.ok(JSON.stringify(schema).length > 100_000, `query-qmp-schema is ${JSON.stringify(schema).length} bytes`);
  // The version QEMU says on its command line (7.2 on Debian 12, 10.0 on Debian 13): asked, not pinned.
  const said = /version (\d+)\.(\d+)\.(\d+)/.exec(execFileSync(QEMU, ["--version"], { encoding: "utf8" }));
  t.same(
    [first.version.major, first.version.minor, first.version.micro],
    said?.slice(1, 4).map(Number),
    "the greeting's version",
  );
  t.same(await schemaFacts(first), { ioUring: true }, "QEMU from Debian: io_uring built in");
  const started = Date.now();
  await t.rejects(
    QmpClient.connect(vm.hookSocket, { timeoutMs: 300 }),
    { code: "QMP_TIMEOUT" },
    "a second client gets no greeting",
  );
  t.ok(Date.now() - started < 2000, "and gives up in bounded time");
  first.close();
  await untilServed(vm.hookSocket);
  const second = await QmpClient.connect(vm.hookSocket);
  // (QEMU 7.2 also reports singlestep, which QEMU 10 dropped)
  t.match(await second.execute("query-status"), { status: "prelaunch", running: false }, "served once the first left");
  second.close();
});

t.test("schema facts come from what QEMU introspects, not from its version", async (t) => {
  const schema = [
    { name: "device_add", "meta-type": "command", features: ["json-cli"] },
    { name: "123", "meta-type": "enum", values: ["threads", "native"] },
  ];
  const path = await fakeServer(t, { onCommand: (s, cmd) => s.write(line({ return: schema, id: cmd.id })) });
  const q = await QmpClient.connect(path);
  t.teardown(() => q.close());
  t.same(await schemaFacts(q), { ioUring: false }, "a QEMU 6.2-like build without io_uring");
});
