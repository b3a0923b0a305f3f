package org.zero4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.zero4j.offload.swap.SwapLayout;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.TinyMlp;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Optimizer offload ({@code cpu}, {@code nvme}) through the engine at stages 1 and 2, world sizes 1
 * and 2: after 10 steps every parameter is bit-identical to the run without offload. The update of
 * each element is the same fp32 kernel call on the same inputs in both runs (only where the state
 * lives and the sub-group order of the calls differ), so equality is exact, not a tolerance.
 */
class OffloadTrainingTest {

  private static final int STEPS = 10;
  private static final Map<String, List<Tensor>> BASELINES = new HashMap<>();

  @TempDir static Path swapDir;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  /** Odd sub-group sizes (the shard is 166-328 elements) and every pipeline setting. */
  static Stream<Arguments> grid() {
    Stream.Builder<Arguments> b = Stream.builder();
    int i = 0;
    for (String device : new String[] {"cpu", "nvme"}) {
      for (int stage = 1; stage <= 2; stage++) {
        for (int world = 1; world <= 2; world++) {
          b.add(Arguments.of(device, stage, world, new int[] {37, 1000, 13, 64}[i % 4], i % 4));
          i++;
        }
      }
    }
    return b.build();
  }

  @ParameterizedTest(name = "{0}, stage {1}, world {2}, sub_group {3}, pipeline {4}")
  @MethodSource("grid")
  void matchesTheRunWithoutOffloadBitForBit(
      String device, int stage, int world, int subGroup, int pipeline) throws IOException {
    List<Tensor> expected =
        BASELINES.computeIfAbsent(
            stage + "/" + world,
            k -> RankRuns.train(world, config(stage, "", 0.0), STEPS, null).get(0).params());
    String offload =
        """
        "sub_group_size": %d,
        "offload_optimizer": {"device": "%s", "nvme_path": "%s", "buffer_count": %d,
                              "pipeline_read": %b, "pipeline_write": %b, "fast_init": %b}
        """
            .formatted(
                subGroup,
                device,
                swapDir,
                pipeline == 0 ? 3 : pipeline == 3 ? 6 : 9,
                (pipeline & 1) != 0,
                (pipeline & 2) != 0,
                pipeline == 2);
    for (RankRuns.Outcome o : RankRuns.train(world, config(stage, offload, 0.0), STEPS, null)) {
      for (int i = 0; i < expected.size(); i++) {
        assertTrue(
            torch.equal(o.params().get(i), expected.get(i)),
            "param "
                + i
                + " differs by "
                + o.params().get(i).sub(expected.get(i)).abs().max().item_double());
      }
    }
    try (Stream<Path> left = Files.list(swapDir)) {
      assertEquals(List.of(), left.toList(), "close() must delete the swap files");
    }
  }

  private static String config(int stage, String offload) {
    return config(stage, offload, 0.0);
  }

  private static String config(int stage, String offload, double clip) {
    String json =
        RankRuns.config(stage, 1, "")
            .replace("\"gradient_clipping\": 0.0", "\"gradient_clipping\": " + clip);
    return offload.isEmpty()
        ? json
        : json.replace("\"overlap_comm\": true}", "\"overlap_comm\": true,\n" + offload + "}");
  }

  /**
   * With clipping active (0.05, below the observed norms of 0.2-0.5): {@code cpu} stays
   * bit-identical; {@code nvme} sums the norm per sub-group (Note [chunked norm with NVMe offload]
   * in StepGradient), which may move the clip factor by an ulp, so it matches to 1e-6 and its norms
   * to 1e-12 relative.
   */
  @Test
  void withClippingCpuIsExactAndNvmeWithinRounding() {
    List<RankRuns.Outcome> base = RankRuns.train(2, config(2, "", 0.05), STEPS, null);
    for (String device : new String[] {"cpu", "nvme"}) {
      String offload =
          ("\"sub_group_size\": 29, \"offload_optimizer\": {\"device\": \"%s\","
                  + " \"nvme_path\": \"%s\", \"buffer_count\": 9, \"pipeline_read\": true,"
                  + " \"pipeline_write\": true}")
              .formatted(device, swapDir);
      List<RankRuns.Outcome> got = RankRuns.train(2, config(2, offload, 0.05), STEPS, null);
      for (int i = 0; i < base.get(0).params().size(); i++) {
        Tensor a = got.get(0).params().get(i);
        Tensor b = base.get(0).params().get(i);
        double diff = a.sub(b).abs().max().item_double();
        if (device.equals("cpu")) {
          assertTrue(torch.equal(a, b), "cpu param " + i + " differs by " + diff);
        } else {
          assertTrue(diff <= 1e-6, "nvme param " + i + " differs by " + diff);
        }
      }
      for (int s = 0; s < STEPS; s++) {
        double n0 = base.get(0).norms().get(s);
        assertTrue(n0 > 0.05, "test premise: clipping is active");
        assertEquals(n0, got.get(0).norms().get(s), 1e-12 * n0, device + " norm at step " + s);
      }
    }
  }

  @Test
  void memoryBreakdownSeparatesDeviceHostAndNvme() {
    for (String device : new String[] {"cpu", "nvme"}) {
      String offload =
          "\"sub_group_size\": 50, \"offload_optimizer\": {\"device\": \"%s\", \"nvme_path\": \"%s\"}"
              .formatted(device, swapDir);
      MemoryBreakdown m =
          LocalRanks.run(
                  2,
                  Duration.ofSeconds(60),
                  comm -> {
                    TinyMlp model = TinyMlp.create(1);
                    try (Engine e =
                        Zero4j.setup(model.named())
                            .config(config(2, offload))
                            .collectives(comm)
                            .start()) {
                      return e.memoryBreakdown();
                    }
                  })
              .get(0);
      long state = m.masterWeights() + m.optimizerStates();
      assertTrue(state > 0, m.toString());
      assertEquals(m.params() + m.grads(), m.deviceBytes(), m.toString());
      if (device.equals("cpu")) {
        assertEquals(state, m.hostBytes(), m.toString());
        assertEquals(0, m.nvmeBytes(), m.toString());
      } else {
        assertEquals(165 * 12, state, "rank 0 holds 165 elements of 12 bytes of state: " + m);
        // the swap file: sub-groups of 50 (three, then one of 15), each one's master, exp_avg and
        // exp_avg_sq starting on a 4096-byte block (Note [why 4096] in SwapLayout)
        long nvme = 3 * (3 * SwapLayout.align(50 * 4) + SwapLayout.align(15 * 4));
        assertEquals(nvme, m.nvmeBytes(), m.toString());
        assertEquals(3 * 50 * 4, m.hostBytes(), "3 staging buffers of 50 fp32: " + m);
      }
      assertTrue(m.residentSetBytes() > 0, m.toString());
    }
  }

  @Test
  void badNvmePathsAreClearErrorsAtInitialize() throws IOException {
    Path missing = swapDir.resolve("missing");
    assertTrue(error(missing).contains(missing + " does not exist"), error(missing));
    Path file = Files.writeString(swapDir.resolve("a-file"), "x");
    assertTrue(error(file).contains(file + " is not a directory"), error(file));
    Files.delete(file);
    // root may write anywhere a mode allows nothing; procfs refuses new files to everyone
    Path unwritable = Path.of("/proc/self");
    assertTrue(error(unwritable).contains("is not writable"), error(unwritable));
  }

  private static String error(Path nvmePath) {
    String offload =
        "\"offload_optimizer\": {\"device\": \"nvme\", \"nvme_path\": \"%s\"}".formatted(nvmePath);
    return assertThrows(
            IllegalArgumentException.class, () -> RankRuns.train(1, config(2, offload), 1, null))
        .getMessage();
  }

  @Test
  void stageZeroOffloadParamOffloadBelowStage3AndUnpinnedMemoryAreRefused() {
    String cpu = "\"offload_optimizer\": {\"device\": \"cpu\"}";
    String m =
        assertThrows(
                IllegalArgumentException.class, () -> RankRuns.train(1, config(0, cpu), 1, null))
            .getMessage();
    assertTrue(m.contains("needs ZeRO stage 1, 2 or 3"), m);
    String param = "\"offload_param\": {\"device\": \"cpu\"}";
    m =
        assertThrows(
                IllegalArgumentException.class, () -> RankRuns.train(1, config(2, param), 1, null))
            .getMessage();
    assertTrue(m.contains("offload_param.device=cpu needs ZeRO stage 3"), m);
    String unpinned = "\"offload_optimizer\": {\"device\": \"cpu\", \"pin_memory\": false}";
    m =
        assertThrows(
                IllegalArgumentException.class,
                () -> RankRuns.train(1, config(2, unpinned), 1, null))
            .getMessage();
    assertTrue(m.contains("offload_optimizer.pin_memory=false has no meaning"), m);
    String cores = "\"offload_optimizer\": {\"device\": \"none\", \"cpuadam_cores_perc\": 0.5}";
    m =
        assertThrows(
                IllegalArgumentException.class, () -> RankRuns.train(1, config(2, cores), 1, null))
            .getMessage();
    assertTrue(m.contains("cpuadam_cores_perc=0.5 bounds the threads"), m);
    // with offload the value is taken: training runs
    String used = "\"offload_optimizer\": {\"device\": \"cpu\", \"cpuadam_cores_perc\": 0.5}";
    assertEquals(1, RankRuns.train(1, config(2, used), 1, null).size());
  }
}
