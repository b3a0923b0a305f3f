package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.OffloadParamConfig;
import org.zero4j.offload.swap.FreeSpaceProbe;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Optimizer offload ({@code cpu}, {@code nvme}) and parameter offload ({@code cpu}, {@code nvme})
 * at stage 3, world sizes 1 and 2, 10 AdamW steps of {@link UnitChain}: every parameter, and the
 * whole optimizer state, is bit-identical to stage 3 without offload. Each element's update is the
 * same fp32 kernel call on the same inputs (the fp32 gradient is made per sub-group by the same
 * conversion and multiplications, Note [chunked stage-3 gradient]); swapped parameter shards are
 * stored and read back in the working precision, exactly. With clipping active the NVMe norm is
 * summed per sub-group, so that case has a 1e-6 tolerance.
 */
class Stage3OffloadTest {

  private static final int STEPS = 10;
  private static final int ROWS = 12;
  private static final long SEED = 11;
  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);
  private static final Map<String, Run> BASELINES = new HashMap<>();

  @TempDir static Path swapDir;

  record Run(List<Tensor> params, List<Tensor> state, List<Double> norms, MemoryBreakdown memory) {}

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  static Stream<Arguments> grid() {
    Stream.Builder<Arguments> b = Stream.builder();
    String[][] cases = {
      {"cpu", "none"},
      {"nvme", "none"},
      {"none", "cpu"},
      {"none", "nvme"},
      {"nvme", "nvme"},
      {"cpu", "nvme"}
    };
    int i = 0;
    for (String[] c : cases) {
      for (int world = 1; world <= 2; world++) {
        b.add(Arguments.of(c[0], c[1], world, i % 2 == 0 ? Precision.FP32 : Precision.BF16, i));
        i++;
      }
    }
    return b.build();
  }

  @ParameterizedTest(name = "optimizer {0}, param {1}, world {2}, {3}, variant {4}")
  @MethodSource("grid")
  void matchesStage3WithoutOffloadBitForBit(
      String optimizer, String param, int world, Precision precision, int variant)
      throws IOException {
    Run base =
        BASELINES.computeIfAbsent(
            world + "/" + precision,
            k -> train(world, precision, OptimizerOffload.NONE, ParamOffload.NONE, 0.0, 0));
    Run got =
        train(
            world,
            precision,
            optimizerOffload(optimizer, new int[] {37, 1000, 13, 64}[variant % 4], variant % 3),
            paramOffload(param, 1 + variant % 3),
            0.0,
            variant % 2 == 0 ? 1000 : 0);
    for (int i = 0; i < base.params().size(); i++) {
      assertTrue(
          torch.equal(got.params().get(i), base.params().get(i)),
          "param " + i + " differs by " + diff(got.params().get(i), base.params().get(i)));
    }
    for (int i = 0; i < 3; i++) {
      assertTrue(torch.equal(got.state().get(i), base.state().get(i)), "state " + i);
    }
    MemoryBreakdown m = got.memory();
    if (param.equals("nvme")) {
      assertTrue(m.nvmeBytes() >= m.params() / 2, "swapped unit shards are on NVMe: " + m);
    }
    if (optimizer.equals("nvme")) {
      assertTrue(m.nvmeBytes() >= m.masterWeights() + m.optimizerStates(), m.toString());
    }
    if (optimizer.equals("cpu")) {
      assertTrue(m.hostBytes() >= m.masterWeights() + m.optimizerStates(), m.toString());
    }
    try (Stream<Path> left = Files.list(swapDir)) {
      assertEquals(List.of(), left.toList(), "close() must delete the swap files");
    }
  }

  /** Clipping active: nvme's per-sub-group norm may move the clip factor by an ulp. */
  @Test
  void withClippingNvmeIsWithinRounding() {
    Run base = train(2, Precision.FP32, OptimizerOffload.NONE, ParamOffload.NONE, 0.05, 0);
    Run got =
        train(
            2,
            Precision.FP32,
            optimizerOffload("nvme", 29, 2),
            paramOffload("nvme", 2),
            0.05,
            1000);
    for (int i = 0; i < base.params().size(); i++) {
      double d = diff(got.params().get(i), base.params().get(i));
      assertTrue(d <= 1e-6, "param " + i + " differs by " + d);
    }
    for (int s = 0; s < STEPS; s++) {
      double n0 = base.norms().get(s);
      assertTrue(n0 > 0.05, "test premise: clipping is active, norm " + n0);
      assertEquals(n0, got.norms().get(s), 1e-12 * n0, "norm at step " + s);
    }
  }

  @Test
  void tooSmallBufferSizeAndTooLittleSpaceAreClearErrors() {
    OffloadParamConfig small =
        new OffloadParamConfig(OffloadDevice.NVME, swapDir.toString(), true, 2, 50, 0);
    String m =
        assertThrows(
                IllegalArgumentException.class,
                () ->
                    train(
                        1,
                        Precision.FP32,
                        OptimizerOffload.NONE,
                        new ParamOffload(small, AioConfig.DEFAULT, FreeSpaceProbe.FILESYSTEM),
                        0.0,
                        0))
            .getMessage();
    assertTrue(m.contains("offload_param.buffer_size is 50 elements"), m);
    ParamOffload full = paramOffload("nvme", 2).withFreeSpace(p -> 1000);
    m =
        assertThrows(
                IllegalArgumentException.class,
                () -> train(1, Precision.FP32, OptimizerOffload.NONE, full, 0.0, 0))
            .getMessage();
    assertTrue(m.contains("offload_param.nvme_path"), m);
  }

  static OptimizerOffload optimizerOffload(String device, long subGroup, int pipeline) {
    OffloadDevice d = OffloadDevice.parse("device", device);
    if (d == OffloadDevice.NONE) {
      return OptimizerOffload.NONE;
    }
    OffloadOptimizerConfig c =
        new OffloadOptimizerConfig(
            d,
            swapDir.toString(),
            true,
            pipeline == 0 ? 3 : 9,
            pipeline >= 1,
            pipeline >= 2,
            pipeline == 1,
            1.0,
            false,
            0.8);
    return new OptimizerOffload(c, AioConfig.DEFAULT, subGroup, FreeSpaceProbe.FILESYSTEM);
  }

  static ParamOffload paramOffload(String device, int buffers) {
    OffloadDevice d = OffloadDevice.parse("device", device);
    if (d == OffloadDevice.NONE) {
      return ParamOffload.NONE;
    }
    // max_in_cpu 100: the first unit (119-238 elements per rank) is swapped unless it fits
    OffloadParamConfig c = new OffloadParamConfig(d, swapDir.toString(), true, buffers, 1000, 100);
    // small aio requests; single_submit and overlap_events=false in some of the runs
    AioConfig aio = new AioConfig(256, 2, 2, buffers == 2, buffers != 3, false);
    return new ParamOffload(c, aio, FreeSpaceProbe.FILESYSTEM);
  }

  private static double diff(Tensor a, Tensor b) {
    return a.sub(b).abs().max().item_double();
  }

  static Run train(
      int world,
      Precision precision,
      OptimizerOffload optimizer,
      ParamOffload param,
      double clip,
      long prefetch) {
    Stage3Config s3 =
        new Stage3Config(prefetch, 0, Long.MAX_VALUE, 1_000_000_000L, 0, false, 0, false, false);
    List<Run> out =
        LocalRanks.run(
            world,
            Duration.ofSeconds(60),
            comm -> {
              UnitChain model = UnitChain.create(SEED);
              List<NamedParameter> named = model.named();
              for (NamedParameter p : named) {
                p.tensor().set_data(p.tensor().detach().to(precision.scalarType()));
              }
              List<Double> norms = new ArrayList<>();
              try (Stage3Optimizer zero =
                  new Stage3Optimizer(
                      named,
                      model.units,
                      new Stage3Options(precision, precision, 500, true, true, s3),
                      comm,
                      new CpuAdam(1),
                      optimizer,
                      param)) {
                int local = ROWS / world;
                for (int step = 1; step <= STEPS; step++) {
                  Tensor[] b = UnitChain.batch(SEED, step, ROWS);
                  Tensor x = b[0].narrow(0, (long) comm.rank() * local, local);
                  Tensor y = b[1].narrow(0, (long) comm.rank() * local, local);
                  zero.beforeBackward();
                  model.loss(x.to(precision.scalarType()), y).backward();
                  zero.afterBackward();
                  StepResult r = zero.step(HP, step, 1.0, clip);
                  assertTrue(!r.skipped());
                  norms.add(r.gradNorm());
                }
                List<Tensor> params = new ArrayList<>();
                for (Tensor t : zero.fullParameters()) {
                  params.add(t.to(torch.ScalarType.Float));
                }
                List<Tensor> state = new ArrayList<>();
                for (AdamState which : AdamState.values()) {
                  Tensor t = torch.zeros(zero.stateNumel());
                  zero.readState(which, 0, t);
                  state.add(t);
                }
                return new Run(params, state, norms, zero.memory());
              }
            });
    return out.get(0);
  }
}
