package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.offload.swap.ResidentMemory;

/**
 * Bounded resident memory with NVMe offload: 24M parameters carry 288 MB of fp32 optimizer state
 * (master and two moments), four times the 68 MiB budget, and the resident set never grows by more
 * than the budget beyond the model's own working copy and gradients.
 *
 * <p>What is measured: the peak resident set ({@code VmHWM}, reset after initialize) during three
 * steps, minus the resident set before the optimizer was built, minus the gradient storage the
 * optimizer reports. That is what the optimizer state, its swap buffers and the step's transients
 * add; without offload it would be at least the 288 MB of state, which the same measurement of an
 * in-memory run confirms, so the test can fail.
 */
class OffloadMemoryTest {

  private static final long[] SIZES = OffloadMemoryProbe.SIZES;
  private static final long BUDGET = 68L << 20;

  @TempDir Path dir;

  @Test
  void residentGrowthStaysUnderBudgetWhileStateIsFourTimesLarger() throws Exception {
    long state = 0;
    for (long n : SIZES) {
      state += 12 * n;
    }
    assertTrue(state >= 4 * BUDGET, "test premise: state " + state + " >= 4 x budget");
    assumeTrue(
        ResidentMemory.resetPeak(), "needs /proc/self/clear_refs to sample the peak per phase");
    long offloaded = childGrowth("nvme");
    assertTrue(
        offloaded <= BUDGET,
        "resident growth with nvme offload " + (offloaded >> 20) + " MiB > budget 68 MiB");
    long inMemory = childGrowth("none");
    assertTrue(
        inMemory >= state, "without offload the state is resident: " + (inMemory >> 20) + " MiB");
  }

  // Note [malloc in the memory test] in ProbeJvm. The child never collects garbage, and with
  // JavaCPP's nopointergc the collector would free no native memory anyway: the loop closes its
  // tensors (a PointerScope per step) and the optimizer must free what it allocates itself.
  private long childGrowth(String device) throws Exception {
    String out = ProbeJvm.run("256m", OffloadMemoryProbe.class, dir.toString(), device);
    for (String line : out.split("\n")) {
      if (line.startsWith("growth=")) {
        return Long.parseLong(line.substring("growth=".length()).trim());
      }
    }
    throw new AssertionError("the memory probe printed no growth line:\n" + out);
  }
}
