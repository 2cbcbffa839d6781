// The plugin's log takes one line per action, with hostile input shown escaped: an ESC sequence in a
// CD-ROM path must not reach an operator's terminal raw, nor forge a line of its own.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { appendLog, isoTime } from "../src/host/plugin-log.js";
import { tempDir } from "./helpers/tmp.js";

t.test("control characters are escaped; a newline never starts a line", async (t) => {
  const log = join(tempDir(t), "plugin.log");
  const env = { GANETI_QEMU_BLOCKDEV_LOG: log };
  appendLog(env, "cdrom-change", "inst1 /iso/a\u001b[2K\rdisk-add[1]: inst1 medium:done\nforged \u009b1m \u007f");
  const text = readFileSync(log, "utf8");
  t.equal(text.split("\n").length, 2, "one line");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters
  t.notMatch(text.slice(0, -1), /[\u0000-\u001f\u007f-\u009f]/, "no control character left but the line's end");
  t.match(text, /\\u001b\[2K\\u000ddisk-add/, "ESC and CR shown escaped");
  t.match(text, /medium:done forged \\u009b1m \\u007f$/m, "the newline a space, C1 and DEL escaped");
  t.doesNotThrow(() =>
    appendLog({ GANETI_QEMU_BLOCKDEV_LOG: tempDir(t) }, "x", "a log that cannot be written costs the record only"),
  );
});

t.test("a line's time is exactly what toISOString() writes, without its first-use cost", async (t) => {
  const times = [0, 951782400000, 1735689599999, Date.UTC(2026, 11, 7, 9, 5, 3, 7), Date.now()];
  for (const ms of times) t.equal(isoTime(new Date(ms)), new Date(ms).toISOString(), new Date(ms).toISOString());
});
