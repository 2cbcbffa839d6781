// @ts-check
/**
 * How every QEMU of the demo, the benchmark, the tests and the code caches starts: TCG (the test's
 * choice, never the host's accident), nothing implicit.
 */
export const QEMU_TCG = ["-accel", "tcg", "-nodefaults", "-display", "none"];

/** The QEMU Debian installs, which the demo, the benchmark and the tests run (or put the launcher in front of). */
export const REAL_QEMU = "/usr/bin/qemu-system-x86_64";
