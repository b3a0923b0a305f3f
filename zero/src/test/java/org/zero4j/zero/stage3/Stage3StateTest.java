package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.zero.AdamState;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.Stage3Config;
import org.zero4j.zero.StateFragment;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Stage 3 seen as a {@link org.zero4j.zero.PartitionedState} (what checkpoints use): the ranks'
 * fragments cover every parameter element once, each fragment's master holds those elements,
 * streaming visits every parameter once with one unit gathered at a time, and the two refreshes
 * move values between the masters and the working shards.
 */
class Stage3StateTest {

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @ParameterizedTest(name = "world {0}")
  @ValueSource(ints = {2, 4})
  void fragmentsStreamingAndRefreshes(int world) {
    Stage3Config s3 =
        new Stage3Config(1_000_000L, 0, Long.MAX_VALUE, 1_000_000_000L, 0, false, 0, false, false);
    LocalRanks.run(
        world,
        Duration.ofSeconds(60),
        comm -> {
          UnitChain model = UnitChain.create(7);
          List<NamedParameter> named = model.named();
          try (Stage3Optimizer zero =
              new Stage3Optimizer(
                  named,
                  model.units,
                  new Stage3Options(Precision.FP32, Precision.FP32, 500, true, true, s3),
                  comm,
                  new CpuAdam(1))) {
            List<Tensor> full = zero.fullParameters();
            long[] covered = new long[named.size()];
            for (int r = 0; r < world; r++) {
              for (StateFragment f : zero.savedFragments(r)) {
                covered[f.param()] += f.numel();
              }
            }
            for (int i = 0; i < named.size(); i++) {
              assertEquals(full.get(i).numel(), covered[i], "elements of " + named.get(i).name());
              assertEquals(
                  java.util.Arrays.toString(full.get(i).sizes().vec().get()),
                  java.util.Arrays.toString(zero.shape(i)));
            }
            // each held fragment's master equals the parameter's elements
            for (StateFragment f : zero.heldFragments()) {
              Tensor got = torch.empty(f.numel());
              zero.readState(AdamState.MASTER, f.stateOffset(), got);
              Tensor want = full.get(f.param()).reshape(-1).narrow(0, f.start(), f.numel());
              assertTrue(torch.equal(got, want), "fragment " + f);
            }
            // streaming: every parameter once, in streamOrder, never more than one unit gathered
            zero.resetPeakLive();
            List<Integer> visited = new ArrayList<>();
            zero.streamParameters(
                0,
                (t, i) -> {
                  visited.add(i);
                  assertTrue(torch.equal(t, full.get(i)), "streamed parameter " + i);
                });
            long persistent = 0;
            long largest = 0;
            for (int u = 0; u < zero.unitNames().size(); u++) {
              long bytes = 4 * zero.unitNumel(u);
              if (zero.unitPersistent(u)) {
                persistent += bytes;
              } else {
                largest = Math.max(largest, bytes);
              }
            }
            assertEquals(persistent + largest, zero.peakLiveBytes(), "one unit at a time");
            assertEquals(comm.rank() == 0 ? zero.streamOrder() : List.of(), visited);
            assertEquals(named.size(), zero.streamOrder().stream().distinct().count());
            // refreshes: masters from working undo a master edit; working from masters applies it
            long n = zero.stateNumel();
            Tensor before = torch.empty(n);
            zero.readState(AdamState.MASTER, 0, before);
            Tensor edit = torch.randn(n);
            zero.writeState(AdamState.MASTER, 0, edit);
            zero.refreshMasterFromWorking();
            Tensor after = torch.empty(n);
            zero.readState(AdamState.MASTER, 0, after);
            assertTrue(torch.equal(before, after), "masters re-derived from the working shards");
            zero.writeState(AdamState.MASTER, 0, edit);
            zero.refreshWorkingFromMaster();
            List<Tensor> edited = zero.fullParameters();
            for (StateFragment f : zero.heldFragments()) {
              Tensor want = edit.narrow(0, f.stateOffset(), f.numel());
              Tensor got = edited.get(f.param()).reshape(-1).narrow(0, f.start(), f.numel());
              assertTrue(torch.equal(got, want), "working values after refresh, " + f);
            }
          }
          return null;
        });
  }
}
