/** How every QEMU of the demo, the benchmark and the tests starts: TCG (no usable KVM here), nothing implicit. */
export const QEMU_TCG = ["-accel", "tcg", "-nodefaults", "-display", "none"];
