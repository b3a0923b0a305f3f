package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.offload.swap.ResidentMemory;
import org.zero4j.zero.ProbeJvm;

/**
 * Bounded memory at ZeRO stage 3 with {@code offload_param.device = nvme} and {@code
 * offload_optimizer.device = nvme}: 41.7M bf16 parameters carry 637 MiB of model state (16 bytes
 * per parameter: bf16 parameters and gradients, fp32 master and two Adam moments), about five times
 * the 128 MiB budget, and the whole resident set of the training process stays within the budget
 * above its baseline, with no garbage collection (Note [no garbage collection] in {@link
 * Stage3OffloadMemoryProbe}).
 *
 * <p>What the budget covers: everything the process has resident at its peak ({@code VmHWM}) during
 * model construction (through {@link PartitionedInit}), optimizer setup and three training steps,
 * minus only the baseline measured in the same child before any tensor of the model exists (JVM,
 * libtorch, Gloo, kernels and a warm-up step: Note [warm-up before the baseline] in {@link
 * Stage3OffloadMemoryProbe}). It holds the rank's bf16 gradient partition (80 MiB at one rank), the
 * parameter shards until they are swapped out, the swap buffers, the gathered units and every
 * transient. The same child without offload peaks above the model state, so the test can fail.
 */
class Stage3OffloadMemoryTest {

  private static final long BUDGET = 128L << 20;

  @TempDir Path dir;

  @Test
  void wholeResidentSetStaysUnderBudgetWhileModelStateIsFourTimesLarger() throws Exception {
    long state = 16 * Stage3OffloadMemoryProbe.modelNumel();
    assertTrue(state >= 4 * BUDGET, "test premise: model state " + state + " >= 4 x budget");
    assumeTrue(ResidentMemory.resetPeak(), "needs /proc/self/clear_refs to reset the peak");
    long[] nvme = child("nvme");
    long[] none = child("none");
    System.out.printf(
        "model state %d MiB, budget %d MiB; nvme: baseline %d MiB, peak %d MiB (+%d); none:"
            + " baseline %d MiB, peak %d MiB (+%d)%n",
        state >> 20,
        BUDGET >> 20,
        nvme[0] >> 20,
        nvme[1] >> 20,
        (nvme[1] - nvme[0]) >> 20,
        none[0] >> 20,
        none[1] >> 20,
        (none[1] - none[0]) >> 20);
    long offloaded = nvme[1] - nvme[0];
    assertTrue(
        offloaded <= BUDGET,
        "resident set above baseline with nvme offload "
            + (offloaded >> 20)
            + " MiB > budget "
            + (BUDGET >> 20)
            + " MiB");
    long inMemory = none[1] - none[0];
    assertTrue(
        inMemory >= state,
        "without offload the model state is resident: " + (inMemory >> 20) + " MiB above baseline");
  }

  // Note [malloc in the memory test] in ProbeJvm.
  private long[] child(String device) throws Exception {
    long t0 = System.nanoTime();
    String out = ProbeJvm.run("128m", Stage3OffloadMemoryProbe.class, dir.toString(), device);
    System.out.printf("child %s: %.1f s%n", device, (System.nanoTime() - t0) / 1e9);
    long baseline = -1;
    long peak = -1;
    for (String line : out.split("\n")) {
      if (line.startsWith("baseline=")) {
        baseline = Long.parseLong(line.substring("baseline=".length()).trim());
      } else if (line.startsWith("peak=")) {
        peak = Long.parseLong(line.substring("peak=".length()).trim());
      }
    }
    assertTrue(baseline > 0 && peak > 0, "the memory probe printed no baseline and peak:\n" + out);
    return new long[] {baseline, peak};
  }
}
