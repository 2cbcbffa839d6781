// The tests' guest-console waits: complete lines only, and states that end a wait or fail it at once.
import t from "tap";
import { findLine, waitLine } from "../lab/guest.js";

const medium = (expected: string) => ({ re: /GUEST: media sr0 data=(?<state>\S*)/, expected });

t.test("a line still being written is no answer", async (t) => {
  t.equal(findLine("GUEST: add vda data=HELLO-FROM-H", 0, { re: /GUEST: add (vd[a-z]) data=(\S*)/ }), undefined);
  const seen = findLine("x\r\nGUEST: add vda data=HELLO-FROM-HOST!\r\nnext", 0, { re: /GUEST: add (vd[a-z]) data=(\S*)/ });
  t.equal(seen?.match[2], "HELLO-FROM-HOST!");
  t.equal(seen?.end, "x\r\nGUEST: add vda data=HELLO-FROM-HOST!\r\n".length, "the next wait starts after that line");
});

t.test("a state: the expected one ends the wait, empty and failed reads let it go on", async (t) => {
  const text = "GUEST: media sr0 error=head:_read_error\nGUEST: media sr0 data=\nGUEST: media sr0 data=MEDIUM-TWO\n";
  t.equal(findLine(text, 0, medium("MEDIUM-TWO"))?.match.groups?.["state"], "MEDIUM-TWO");
  t.equal(findLine(text.split("\n").slice(0, 2).join("\n"), 0, medium("MEDIUM-TWO")), undefined);
  t.equal(findLine(text, 0, medium(""))?.match.groups?.["state"], "", "an eject is the empty state");
});

t.test("the state before the change, reported late, lets the wait go on", async (t) => {
  const text = "GUEST: media sr0 data=MEDIUM-ONE\nGUEST: media sr0 data=MEDIUM-TWO\n";
  const wanted = { ...medium("MEDIUM-TWO"), previous: "MEDIUM-ONE" };
  t.equal(findLine(text, 0, wanted)?.match.groups?.["state"], "MEDIUM-TWO");
  t.throws(() => findLine("GUEST: media sr0 data=MEDIUM-THREE\n", 0, wanted), /MEDIUM-THREE/, "a third medium fails");
});

t.test("another non-empty state fails at once, with the console", async (t) => {
  const text = "GUEST: media sr0 data=MEDIUM-ONE\n";
  const started = Date.now();
  await t.rejects(
    waitLine(() => text, medium("MEDIUM-TWO"), 60_000),
    /not "MEDIUM-TWO".*guest kernel.*MEDIUM-ONE/s,
  );
  t.ok(Date.now() - started < 5000, "without waiting for the deadline");
  await t.rejects(
    waitLine(() => "GUEST: media sr0 data=MEDIUM-TWO\n", medium(""), 60_000),
    /data=MEDIUM-TWO", not ""/,
  );
});

t.test("a deadline failure prints what the guest said since the wait began", async (t) => {
  await t.rejects(
    waitLine(() => "old line\nGUEST: BOOT-OK\n[ 1.0] I/O error\n", { re: /GUEST: add/ }, 50, 9),
    {
      message: /never printed .*GUEST: add.*I\/O error/s,
    },
  );
});
