// @ts-check
// The floor under a hot-plug figure (bench/hotplug-floor.ts): the least a process can do to send
// QEMU the commands a hook sent, as a plain script on Node's own `net` (no bundle, no validation,
// no lock, no runtime file). Every command goes out at once, as QEMU answers in order; after a
// device_del, the rest waits for QEMU's DEVICE_DELETED, as any client must.
//   node floor-client.cjs SOCKET COMMANDS.json
const { connect } = require("node:net");
const { readFileSync } = require("node:fs");

const [socketPath, file] = process.argv.slice(2);
/** @type {{ execute: string, arguments?: Record<string, unknown> }[]} */
const commands = JSON.parse(readFileSync(String(file), "utf8"));
const cut = commands.findIndex((c) => c.execute === "device_del");
const first = cut < 0 ? commands : commands.slice(0, cut + 1);
const after = cut < 0 ? [] : commands.slice(cut + 1);
const unplugged = cut < 0 ? undefined : commands[cut]?.arguments?.["id"];

const sock = connect(String(socketPath));
let buf = "";
let stage = "greeting";
let waiting = 0;
/** @param {{ execute: string, arguments?: Record<string, unknown> }[]} batch */
const send = (batch) => {
  waiting = batch.length;
  sock.write(batch.map((c) => `${JSON.stringify(c)}\n`).join(""));
};
sock.on("data", (b) => {
  buf += b.toString();
  for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
    const msg = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    if (stage === "greeting") {
      stage = "capabilities";
      send([{ execute: "qmp_capabilities" }]);
    } else if (msg.event === "DEVICE_DELETED" && msg.data?.device === unplugged && stage === "first") {
      stage = "unplugged";
      if (waiting === 0) next();
    } else if (msg.error) {
      process.stderr.write(`floor-client: ${JSON.stringify(msg.error)}\n`);
      process.exit(1);
    } else if (!msg.event && --waiting === 0) {
      next();
    }
  }
});

function next() {
  if (stage === "capabilities") {
    stage = "first";
    send(first);
  } else if (stage === "unplugged" || (stage === "first" && unplugged === undefined)) {
    stage = "rest";
    if (after.length > 0) send(after);
    else sock.destroy();
  } else if (stage === "rest") {
    sock.destroy();
  }
}
